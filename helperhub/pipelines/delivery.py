"""How a component gets its helpers: the delivery modes and the pure pieces they render
(pip requirement strings, index options, provenance) from the lock."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from helperhub.core.errors import ConfigError, LockError
from helperhub.pipelines.profiles import Profile, retarget
from helperhub.release.lock import Lock, PackagePin


class Mode(StrEnum):
    """Released: ``image`` (baked image by digest), ``package`` (pip install at step start).
    Not yet released, from the working tree: ``embedded``, ``volume`` (PVC), ``configmap``."""

    IMAGE = "image"
    PACKAGE = "package"
    EMBEDDED = "embedded"
    VOLUME = "volume"
    CONFIGMAP = "configmap"

    @property
    def released(self) -> bool:
        return self in (Mode.IMAGE, Mode.PACKAGE)


VOLUME_MOUNT = "/mnt/helpers"
CONFIGMAP_MOUNT = "/opt/helpers-src"


@dataclass(frozen=True)
class Delivery:
    """Everything a factory needs to pin helpers, built once and passed explicitly."""

    lock: Lock
    mode: Mode = Mode.IMAGE
    # package mode: "hash" installs `name @ <url>#sha256=<hex>` (pip refuses other bytes);
    # "version" installs `name==<version>` from the index, where pip may prefer another file of that
    # version (a build-tagged twin, `x-1.0.0-1-py3-none-any.whl`): the step-start check then fails
    pin_by: str = "hash"
    index_url: str | None = None  # None: the index each pin was released to
    base_image: str | None = None  # None: the base the images were built from, by digest
    image_registry: str | None = None  # None: the registry each image was pushed to
    source_root: Path | None = None  # repository root, for the working-tree modes
    volume_claim: str = "helpers-src"

    def __post_init__(self) -> None:
        if self.pin_by not in ("version", "hash"):
            raise ConfigError(f"pin_by must be 'version' or 'hash', not {self.pin_by!r}")

    @classmethod
    def for_profile(cls, profile: Profile, lock: Lock, mode: Mode, **kw: Any) -> Delivery:
        """A delivery whose index and registries are the profile's (flags given in ``kw`` win)."""
        values: dict[str, Any] = {
            "index_url": profile.index_url, "image_registry": profile.image_registry,
            "base_image": profile.base_image,
        }
        values.update({k: v for k, v in kw.items() if v is not None})
        return cls(lock=lock, mode=mode, **values)


@dataclass(frozen=True)
class HelperRef:
    """A helper a component uses: name and extras; its version always comes from the lock."""

    name: str
    extras: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return self.name.replace("-", "_")


def parse_helper(text: str) -> HelperRef:
    try:
        req = Requirement(text)
    except InvalidRequirement:
        raise ConfigError(f"{text!r} is not a helper name like 'tabular-helpers[plots]'") from None
    if req.specifier or req.url or req.marker:
        raise ConfigError(f"{text!r}: give the helper name only; its version comes from pins.json")
    return HelperRef(canonicalize_name(req.name), tuple(sorted(req.extras)))


def require_pin(lock: Lock, name: str) -> PackagePin:
    return lock.require(name, fix=f"make release PACKAGE={name}")


def pip_requirement(pin: PackagePin, extras: tuple[str, ...], pin_by: str, index_url: str | None = None) -> str:
    """``name[extras]==version`` or ``name[extras] @ url#sha256=...``: exact, never a range.
    A URL pin follows ``index_url`` when pods reach the index elsewhere (same file path)."""
    extra = f"[{','.join(extras)}]" if extras else ""
    if pin_by == "hash":
        return f"{pin.name}{extra} @ {rebase_url(pin.url, index_url)}#sha256={pin.sha256}"
    return f"{pin.name}{extra}=={pin.version}"


def rebase_url(url: str, index_url: str | None) -> str:
    """The same file path on another index host (pypiserver serves /packages/ beside /simple/)."""
    if not index_url:
        return url
    new, old = urlsplit(index_url), urlsplit(url)
    return old._replace(scheme=new.scheme, netloc=new.netloc).geturl()


def trusted_hosts(index_url: str) -> list[str]:
    """kfp 2.17 turns a missing value into a malformed `--trusted-host <URL>`: always give it,
    the bare host for an http index and nothing for https."""
    parts = urlsplit(index_url)
    return [parts.hostname or ""] if parts.scheme == "http" else []


def third_party(pins: list[PackagePin], helper_names: set[str]) -> list[str]:
    """What pods must pip install when the helpers' own code comes from elsewhere."""
    reqs = {r for pin in pins for r in pin.requires}
    return sorted(r for r in reqs if canonicalize_name(Requirement(r).name) not in helper_names)


def provenance(pins: list[PackagePin], refs: list[HelperRef], mode: Mode, versions: dict[str, str],
               sources: dict[str, str], image_registry: str | None = None) -> list[dict[str, str]]:
    """What each task records about the helpers it was pinned to (also checked at step start)."""
    out = []
    for ref, pin in zip(refs, pins, strict=True):
        entry = {"name": ref.name, "module": ref.module, "mode": str(mode)}
        if mode.released:
            entry |= {"version": pin.version, "sha256": pin.sha256}
            if pin.image is not None:
                entry["image"] = retarget(pin.image.ref, image_registry)
        else:
            entry |= {"version": versions[ref.name], "source_sha256": sources[ref.name]}
        out.append(entry)
    return out


def provenance_json(entries: list[dict[str, str]]) -> str:
    return json.dumps(entries, sort_keys=True, separators=(",", ":"))


def image_for(lock: Lock, refs: list[HelperRef]) -> PackagePin:
    """The one pinned image that contains every helper named (an image holds its helper's
    local dependencies too)."""
    names = {r.name for r in refs}
    for ref in refs:
        pin = require_pin(lock, ref.name)
        covered = {pin.name} | {n for n in names if _depends_on(lock, pin, n)}
        if covered >= names:
            if pin.image is None:
                raise LockError(
                    f"{pin.name} {pin.version} has no image in pins.json; run `make images PACKAGE={pin.name}`"
                )
            return pin
    raise ConfigError(
        f"no single helper image contains all of {sorted(names)}; use mode='package' or split the step"
    )


def _depends_on(lock: Lock, pin: PackagePin, name: str) -> bool:
    """Whether ``name`` is installed with ``pin``'s image, as a dependency of its helper."""
    return lock.get(name) is not None and any(
        canonicalize_name(Requirement(r).name) == name for r in pin.depends
    )
