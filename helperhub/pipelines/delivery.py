"""How a component gets its helpers: the delivery modes and the pure pieces they render
(pip requirement strings, index options, provenance) from the lock."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from helperhub.core import defaults
from helperhub.core.errors import ConfigError, LockError
from helperhub.core.settings import repository_settings
from helperhub.core.targets import MACHINES, machine_of
from helperhub.lock.closure import LockedFile, for_extras, merge, rebase_url
from helperhub.lock.lockfile import ImagePin, Lock, PackagePin, load_lock
from helperhub.lock.target_pins import TargetPin
from helperhub.pipelines.modes import Mode as Mode  # re-exported: Mode was defined here
from helperhub.pipelines.profiles import Profile, chosen_profile, load_profile, retarget

INSTALLERS = ("uv", "pip")
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
    # package and working-tree modes: "uv" (bootstrapped from the private index, pinned in the
    # lock; seconds) or "pip" (KFP's own packages_to_install path)
    installer: str = "uv"
    index_url: str | None = None  # None: the index each pin was released to
    base_image: str | None = None  # None: the base the images were built from, by digest
    image_registry: str | None = None  # None: the registry each image was pushed to
    source_root: Path | None = None  # repository root, for the working-tree modes
    lock_root: Path | None = None  # the folder of the lock: an environment's modules are in it
    volume_claim: str = "helpers-src"
    # the target of the lock steps use (its image, its closures); None: each helper's first
    target: str | None = None

    def __post_init__(self) -> None:
        if self.pin_by not in ("version", "hash"):
            raise ConfigError(f"pin_by must be 'version' or 'hash', not {self.pin_by!r}")
        if self.installer not in INSTALLERS:
            raise ConfigError(f"installer must be one of {', '.join(INSTALLERS)}, not {self.installer!r}")

    @classmethod
    def for_profile(cls, profile: Profile, lock: Lock, mode: Mode, **kw: Any) -> Delivery:
        """A delivery whose index and registries are the profile's (flags given in ``kw`` win)."""
        values: dict[str, Any] = {
            "index_url": profile.index_url, "image_registry": profile.image_registry,
            "base_image": profile.base_image,
        }
        values.update({k: v for k, v in kw.items() if v is not None})
        return cls(lock=lock, mode=mode, **values)

    @classmethod
    def from_lock(
        cls, path: str | Path, mode: Mode | str = Mode.IMAGE, profile: str | None = None,
        source: str | Path | None = None, target: str | None = None, **kw: Any,
    ) -> Delivery:
        """The delivery a pipeline repository compiles with: its lock, its profile (None: the
        ``profile`` of its ``[tool.helperhub]``, else local) and its own profiles; ``kw`` as for
        ``Delivery`` (pin_by, installer, index_url, ...). ``target``: the target of the lock its
        steps use (None: each helper's first); a helper released without it fails when a
        component using it is defined. Working-tree modes run helper code from
        ``source`` (the folder holding ``helpers/``), which is never guessed: a pipeline repository
        usually has no helper sources, and the wrong folder would ship the wrong code."""
        lock_path = Path(path)
        if not lock_path.is_file():
            raise LockError(f"no lock at {lock_path}; give the path of pins.json, "
                            "or write one with `helperhub pins bump NAME VERSION`")
        try:
            chosen = Mode(mode)
        except ValueError:
            raise ConfigError(f"mode must be one of {', '.join(Mode)}, not {mode!r}") from None
        if "source_root" in kw:
            raise ConfigError("give the helper sources as source=, not source_root=")
        if not chosen.released and source is None:
            raise ConfigError(
                f"mode {chosen} runs helper code from the working tree: pass source= (the folder holding helpers/)"
            )
        settings = repository_settings(lock_path.resolve().parent)
        return cls.for_profile(
            load_profile(chosen_profile(profile, settings), settings=settings), load_lock(lock_path), chosen,
            source_root=Path(source) if source is not None else None, target=target,
            lock_root=lock_path.resolve().parent, **kw,
        )


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


def locked_requirement(
    file: LockedFile, beside: str, pin_by: str, index_url: str | None = None, *, fragment: bool = True
) -> str:
    """``name @ url#sha256=...`` (pip refuses other bytes; without ``fragment`` for a requirements
    line that carries ``--hash``) or ``name==version``: exact, never a range. The URL follows
    ``index_url`` when pods reach the index elsewhere (same file path)."""
    if pin_by == "hash":
        url = rebase_url(file.url(beside), index_url)
        return f"{file.name} @ {url}#sha256={file.sha256}" if fragment else f"{file.name} @ {url}"
    return f"{file.name}=={file.version}"


def step_target(pins: list[PackagePin], target: str | None) -> str:
    """The target a step uses: ``target``, else its helpers' first one, which must be the same."""
    if target is not None:
        return target
    firsts = {p.default_target for p in pins if p.targets}
    if len(firsts) > 1:
        named = ", ".join(f"{p.name} {p.default_target}" for p in pins if p.targets)
        raise ConfigError(f"the helpers of one step are released first for different targets ({named}); "
                          "pick one with target= (--target, HUB_TARGET)")
    return next(iter(firsts), "")


def pin_target(pin: PackagePin, target: str) -> TargetPin | None:
    """The pin's target ``target`` (an error naming those it has); None for a pin without any."""
    return pin.require_target(target) if pin.targets else None


def step_platforms(pins: list[PackagePin], target: str) -> tuple[str, ...]:
    """The platforms a step can run on: those every helper's target has a closure for."""
    found = [(p, t.platforms) for p in pins if (t := pin_target(p, target)) is not None]
    shared = tuple(m for m in MACHINES if all(m in platforms for _, platforms in found))
    if found and not shared:
        named = "; ".join(f"{p.name} for {', '.join(platforms) or 'none'}" for p, platforms in found)
        raise ConfigError(f"the helpers of one step have files of target {target} for no common platform ({named}); "
                          "release them for one platform, or split the step")
    return shared if found else (defaults.TARGET_PLATFORM,)


def closure_of(pin: PackagePin, target: str, platform: str | None) -> tuple[LockedFile, ...]:
    """The pin's locked files on ``platform`` of ``target`` (None: its first platform); none
    locked is an error that says how to lock them."""
    chosen = pin_target(pin, target)
    if chosen is None:
        return pin.require_closure()
    files = chosen.files(platform)
    if not files:
        raise LockError(f"the pin of {pin.name} {pin.version} has no locked closure for "
                        f"{platform or 'any platform'} of target {target or pin.default_target}; "
                        f"re-run `make release PACKAGE={pin.name}` for it")
    return files


def install_set(pins: list[PackagePin], refs: list[HelperRef], *, helpers: bool, target: str | None = None,
                platform: str | None = None) -> list[tuple[LockedFile, str]]:
    """What a step installs on ``platform`` of ``target`` (None: each helper's first target and
    its first platform): each helper's locked closure for the extras it is used with (and, with
    ``helpers``, the helper wheels themselves), as (file, the URL of the pin it came from)."""
    beside: dict[str, str] = {}
    groups = []
    for ref, pin in zip(refs, pins, strict=True):
        closure = pin.require_closure() if target is None else closure_of(pin, target, platform)
        files = for_extras(closure, ref.extras)
        if helpers:
            files.append(pin.wheel_file())
        else:
            files = [f for f in files if f.name not in {r.name for r in refs}]
        groups.append((pin.name, files))
        for f in files:
            beside.setdefault(f.name, pin.url)
    return [(f, beside[f.name]) for f in merge(groups)]


def trusted_hosts(index_url: str) -> list[str]:
    """kfp 2.17 turns a missing value into a malformed `--trusted-host <URL>`: always give it,
    the bare host for an http index and nothing for https."""
    parts = urlsplit(index_url)
    return [parts.hostname or ""] if parts.scheme == "http" else []


def runtimes(pin: PackagePin) -> dict[str, dict[str, Any]]:
    """Per target of the pin, the Python and the machines it was locked for: what the step-start
    check compares with the interpreter, and where it finds a target that fits it instead."""
    return {name: {"python": t.python, "machines": [machine_of(p) for p in t.platforms]}
            for name, t in pin.targets.items()}


def provenance(pins: list[PackagePin], refs: list[HelperRef], mode: Mode, versions: dict[str, str],
               sources: dict[str, str], image_registry: str | None = None,
               target: str = "") -> list[dict[str, Any]]:
    """What each task records about the helpers it was pinned to (also checked at step start):
    version and wheel (or working-tree source), image, and the target of the lock it uses."""
    out = []
    for ref, pin in zip(refs, pins, strict=True):
        entry: dict[str, Any] = {"name": ref.name, "module": ref.module, "mode": str(mode)}
        chosen = pin_target(pin, target)
        if mode.released:
            entry |= {"version": pin.version, "sha256": pin.sha256}
            if chosen is not None and chosen.image is not None:
                entry["image"] = retarget(chosen.image.ref, image_registry)
        else:
            entry |= {"version": versions[ref.name], "source_sha256": sources[ref.name]}
        if chosen is not None:
            entry |= {"target": target, "targets": runtimes(pin)}
        out.append(entry)
    return out


def provenance_json(entries: list[dict[str, Any]]) -> str:
    return json.dumps(entries, sort_keys=True, separators=(",", ":"))


def image_for(lock: Lock, refs: list[HelperRef], target: str = "") -> ImagePin:
    """The one pinned image of ``target`` ("": the default) that contains every helper named (an
    image holds its helper's local dependencies too); for a multi-platform target, the digest of
    its index, from which each node pulls its own platform."""
    names = {r.name for r in refs}
    for ref in refs:
        pin = require_pin(lock, ref.name)
        covered = {pin.name} | {n for n in names if _depends_on(lock, pin, n)}
        if covered >= names:
            chosen = pin_target(pin, target)
            if chosen is None or chosen.image is None:
                where = f" for target {target}" if target and target != defaults.TARGET_NAME else ""
                raise LockError(f"{pin.name} {pin.version} has no image{where} in pins.json; "
                                f"run `make images PACKAGE={pin.name}`")
            return chosen.image
    raise ConfigError(
        f"no single helper image contains all of {sorted(names)}; use mode='package' or split the step"
    )


def _depends_on(lock: Lock, pin: PackagePin, name: str) -> bool:
    """Whether ``name`` is installed with ``pin``'s image, as a dependency of its helper."""
    return lock.get(name) is not None and any(
        canonicalize_name(Requirement(r).name) == name for r in pin.depends
    )
