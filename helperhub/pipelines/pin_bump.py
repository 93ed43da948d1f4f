"""`pins bump`: point the lock at a version that is already released, for every target it was
released for, from what a consumer repository reaches: the index (the wheel, the release's record)
and the OCI registry (which targets have images, what runs there, their digests).

A pin of a release is what the release recorded (``/helpers/<name>/<version>/release.json``): its
targets, closures and images, never a fresh resolution, however much the index moved since (the
signed provenance covers that closure when the repository trusts a key). A release from before
records is pinned as before: its targets are its images' tags (``image_targets``), each closure
resolved from the index; a package-only one is the target ``default``, resolved for ``TARGET_*``."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import requests
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from helperhub.core import defaults
from helperhub.core.errors import IntegrityError, LockError, RegistryError
from helperhub.core.metadata import wheel_metadata
from helperhub.core.targets import TargetFacts, default_facts
from helperhub.images.context import CLOSURE_LABEL, expected_labels, label_mismatch
from helperhub.images.target_context import target_closure_sha256
from helperhub.lock.closure import LockedFile
from helperhub.lock.environments import EnvironmentPin
from helperhub.lock.lockfile import (
    ImagePin,
    Lock,
    PackagePin,
    dependency_roots,
    load_lock,
    modify_lock,
    pin_released_wheel,
)
from helperhub.lock.target_pins import TargetPin
from helperhub.pipelines.image_targets import TargetImage, target_images
from helperhub.registry.client import (
    IndexSettings,
    fetch_document,
    project_files,
    release_record_url,
    verify_served,
)
from helperhub.release.resolve import resolve_closure, served_tool
from helperhub.release.versions import parse_version

BASE_LABEL = "org.opencontainers.image.base.name"
REVISION_LABEL = "org.opencontainers.image.revision"


@dataclass(frozen=True)
class Bump:
    """What `pins bump` writes for one helper: its pin, and the uv of each platform its targets
    run on. Computed from a lock without writing it (`pins outdated` shows it, a bump saves it)."""

    pin: PackagePin
    tools: dict[str, LockedFile]  # platform -> uv
    note: str = ""  # what the user should know of how it was pinned (a release without a record)

    def apply(self, lock: Lock) -> Lock:
        """``lock`` with this pin and its tools."""
        lock = lock.with_pin(self.pin)
        for platform, uv in self.tools.items():
            lock = lock.with_tool(uv, platform)
        return lock


Relock = Callable[[Lock], Sequence[EnvironmentPin]]  # the environments to lock again on a bumped lock


def bump_pin(
    lock_path: Path, name: str, version: str, index: IndexSettings, oci_registry: str | None,
    helpers: set[str], kfp_version: str, targets: Sequence[str] = (),
    verify: Callable[[PackagePin], None] | None = None, relock: Relock | None = None,
) -> Bump:
    """Point the lock at a released version (``compute_bump``, then written with its tools, and
    with the environments ``relock`` locks again on the bumped lock, all together)."""
    lock = load_lock(lock_path)
    bump = compute_bump(lock, name, version, index, oci_registry, helpers, kfp_version, targets, verify)
    save_bumps(lock_path, [bump], relock(bump.apply(lock)) if relock is not None else ())
    return bump


def save_bumps(lock_path: Path, bumps: Sequence[Bump], environments: Sequence[EnvironmentPin] = ()) -> Lock:
    """Write every bump's pin and tools into the lock, and ``environments`` locked against them:
    all or none."""

    def change(current: Lock) -> Lock:
        for bump in bumps:
            current = bump.apply(current)
        for env in environments:
            current = current.with_environment(env)
        return current

    return modify_lock(lock_path, change)


def compute_bump(
    lock: Lock, name: str, version: str, index: IndexSettings, oci_registry: str | None,
    helpers: set[str], kfp_version: str, targets: Sequence[str] = (),
    verify: Callable[[PackagePin], None] | None = None,
) -> Bump:
    """The pin of a released version as ``lock`` would get it: the wheel's sha256 from the index
    (verified by download), then the targets (``targets``: only those; none: all) the release
    recorded, with their closures and images as recorded (an image the record lacks is taken from
    the OCI registry when its labels say it holds that closure). A release without a record: each
    target the OCI registry has an image of, its closure per platform resolved from the index for
    the facts the image states (keeping the pins of the helpers it depends on), and a ``note``
    saying so. A target the lock already has for this very wheel keeps its closure. ``verify``:
    called with the new pin before anything is written; what it raises stops the bump."""
    name = canonicalize_name(name)
    parsed = parse_version(version)
    wanted = str(parsed)
    files = project_files(index, name)
    wheels = [f for f in files.values()
              if f.filename.endswith(".whl") and parse_wheel_filename(f.filename)[1] == parsed]
    if not wheels:
        raise LockError(f"{name} {version} is not in the registry at {index.base}; release it with `make release`")
    wheel = wheels[0]
    verify_served(index, wheel, wheel.sha256)
    recorded = recorded_pin(index, name, wanted)
    if recorded is not None and (recorded.wheel, recorded.sha256) != (wheel.filename, wheel.sha256):
        raise IntegrityError(f"the index's record of {name} {wanted} names {recorded.wheel} "
                             f"sha256:{recorded.sha256[:12]} but it serves {wheel.filename} "
                             f"sha256:{wheel.sha256[:12]}; do not pin it, and tell the registry's operators")
    sdists = [f for f in files.values() if f.filename.endswith(".tar.gz") and f.version == parsed]
    old = lock.get(name)
    same = old is not None and (old.version, old.sha256) == (wanted, wheel.sha256)
    images = target_images(f"{oci_registry}/{name}", wanted) if oci_registry else []
    if recorded is not None:
        pin = replace(recorded, url=wheel.url, index_url=index.simple_url)
        pinned = _recorded_targets(recorded, images, targets, index, oci_registry, lock)
        note = ""
    else:
        third, local, extras = _wheel_requirements(index, wheel.url, helpers)
        pin = pin_released_wheel(
            old, name=name, version=wanted, wheel=wheel.filename, sha256=wheel.sha256, url=wheel.url,
            index_url=index.simple_url, kfp_version=kfp_version,
            sdist=sdists[0].filename if sdists else "", sdist_sha256=sdists[0].sha256 if sdists else "",
            requires=sorted({*third, f"kfp=={kfp_version}"}), depends=local,
        )
        kept = dict(old.targets) if old is not None and same else {}
        chosen = _chosen(name, wanted, images, targets)
        deps = [Requirement(raw).name for raw in local]
        pinned = {t: _target_pin(pin, lock, kept.get(t), t, image, extras, deps, index, oci_registry)
                  for t, image in chosen.items()}
        note = (f"the index has no record of {name} {wanted} (released before records were kept): its closure was "
                "resolved from the index as it is today")
    if targets and old is not None and same:  # naming some targets leaves the others of this release as they were
        pinned = {**old.targets, **pinned}
    first = recorded.default_target if recorded is not None else ""
    default = next((t for t in (old.default_target if old is not None and same else "", first, defaults.TARGET_NAME)
                    if t in pinned), min(pinned))
    revision = next((i.labels[p].get(REVISION_LABEL, "") for i in images for p in i.platforms), "")
    pin = replace(pin, targets=pinned, default_target=default, commit=pin.commit or revision)
    if verify is not None:
        verify(pin)
    tools = {p: lock_uv(lock, index, p, pin.targets[t].facts(p)) for t in pinned for p in pin.targets[t].platforms}
    return Bump(pin, tools, note)


def recorded_pin(index: IndexSettings, name: str, version: str) -> PackagePin | None:
    """The lock entry the release of ``name`` ``version`` recorded on the index; None for a release
    from before records (or an index that keeps none)."""
    raw = fetch_document(index, release_record_url(index, name, version))
    if raw is None:
        return None
    try:
        return PackagePin.from_json(name, json.loads(raw)["pin"])
    except (ValueError, KeyError, TypeError, LockError):
        raise IntegrityError(f"the index's record of {name} {version} is not a lock entry; pin another version, "
                             "and tell the registry's operators") from None


def _recorded_targets(
    recorded: PackagePin, images: list[TargetImage], wanted: Sequence[str], index: IndexSettings,
    oci_registry: str | None, lock: Lock,
) -> dict[str, TargetPin]:
    """The targets of a recorded release (``wanted``: only those), as recorded; a target recorded
    without an image takes the OCI registry's, whose labels must name the recorded closure."""
    for target in wanted:
        if target not in recorded.targets:
            raise LockError(f"{recorded.name} {recorded.version} was not released for target {target!r}; it was for "
                            f"{', '.join(recorded.targets)}: pick one of them, or re-release it for that target")
    found = {i.name: i for i in images}
    out = {}
    for target in wanted or list(recorded.targets):
        kept = recorded.targets[target]
        image = found.get(target)
        out[target] = kept if kept.image is not None or image is None else _target_pin(
            recorded, lock, kept, target, image, (), [], index, oci_registry)
    return out


def _chosen(name: str, version: str, images: list[TargetImage], wanted: Sequence[str]) -> dict[str, TargetImage | None]:
    """The targets to pin: those named (each must have an image, or be ``default`` of a release
    without images), else all; None for the target ``default`` of a package-only release."""
    available: dict[str, TargetImage | None] = {i.name: i for i in images} or {defaults.TARGET_NAME: None}
    for target in wanted:
        if target not in available:
            raise LockError(f"{name} {version} has no image for target {target!r} in the OCI registry; it has "
                            f"{', '.join(available)}: pick one of them, or re-release it for that target")
    return {t: available[t] for t in (wanted or available)}


def _target_pin(
    pin: PackagePin, lock: Lock, old: TargetPin | None, target: str, image: TargetImage | None,
    extras: tuple[str, ...], deps: list[str], index: IndexSettings, oci_registry: str | None,
) -> TargetPin:
    """One target of the bumped pin: its closure on each platform its image has (kept from
    ``old``, the lock's pin of the same wheel, when it was resolved for the same runtime), and
    its image, whose labels must say it holds this wheel and that closure."""
    facts = image.facts if image is not None else default_facts()
    platforms = tuple(image.platforms) if image is not None else (defaults.TARGET_PLATFORM,)
    same_runtime = old is not None and (old.python, old.implementation, old.glibc) == (
        facts.python, facts.implementation, facts.glibc)
    closure: dict[str, tuple[LockedFile, ...]] = {}
    for platform in platforms:
        if old is not None and same_runtime and old.closure.get(platform):
            closure[platform] = old.closure[platform]  # the lock has this release's closure: a bump never moves it
            continue
        also, locked = dependency_roots(lock, deps, target=target, platform=platform)
        closure[platform] = resolve_closure(
            index, pin.name, pin.version, extras, pin.kfp_version, also=also, locked=locked,
            target=image.facts_on(platform) if image is not None else facts,
        )
    if image is None:
        return TargetPin.of(facts, base_image=old.base_image if old and same_runtime else "", closure=closure)
    for platform in platforms:
        _verify_labels(pin, image, platform, closure)
    found = ImagePin(
        ref=image.ref, tag=f"{image.repository}:{image.tag}",
        base_image=image.labels[platforms[0]].get(BASE_LABEL, ""), registry=oci_registry or "",
        platforms=dict(image.platforms) if image.is_index else {},
    )
    if old is not None and old.image is not None and old.image.ref == found.ref:
        found = old.image  # the same image: its entry stays byte for byte
    return TargetPin.of(facts, base_image=found.base_image or (old.base_image if old else ""), image=found,
                        closure=closure)


def _verify_labels(pin: PackagePin, image: TargetImage, platform: str,
                   closure: dict[str, tuple[LockedFile, ...]]) -> None:
    """The labels of ``platform``'s image must say it holds this wheel and this target's closures."""
    where = f"{image.repository}:{image.tag}" + (f" ({platform})" if image.is_index else "")
    expected = {**expected_labels(pin), CLOSURE_LABEL: target_closure_sha256(closure)}
    bad = label_mismatch(expected, image.labels[platform])
    if bad and all(b.startswith(CLOSURE_LABEL) for b in bad):
        raise IntegrityError(
            f"{where} was built with another closure than the index resolves for it today "
            "(newer dependencies were mirrored since); copy its pin from a lock that has it "
            "(the releasing repository's pins.json), or release a new version"
        )
    if bad:
        raise IntegrityError(f"{where} does not hold this wheel ({bad[0]}); rebuild it with a new version")


def lock_uv(lock: Lock, index: IndexSettings, platform: str = defaults.TARGET_PLATFORM,
            facts: TargetFacts | None = None) -> LockedFile:
    """The lock's uv on ``platform`` (what package-mode steps there install with): kept when it
    is the version this helperhub uses, else the file the index serves for it there."""
    uv = lock.platform_tools.get("uv", {}).get(platform)
    if uv is None or uv.version != defaults.UV_VERSION:
        uv = served_tool(index, "uv", defaults.UV_VERSION, facts)
    return uv


def _wheel_requirements(
    settings: IndexSettings, url: str, helpers: set[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Requires-Dist and Provides-Extra of a served wheel: (third-party closure roots, helper
    dependencies, extras); the closure is locked for every extra, as the image holds them all."""
    try:
        resp = requests.get(url, timeout=(5, 60))
    except requests.RequestException:
        raise RegistryError(f"cannot download {url}; is the registry at {settings.base} up?") from None
    if resp.status_code != 200:
        raise RegistryError(f"{url} answered {resp.status_code}; the wheel is not served by {settings.base}")
    meta = wheel_metadata(resp.content, url.rsplit("/", 1)[-1])
    third: set[str] = set()
    local: set[str] = set()
    for raw in meta.requires_dist:
        req = Requirement(raw)
        req.marker = None
        (local if canonicalize_name(req.name) in helpers else third).add(str(req))
    return tuple(sorted(third)), tuple(sorted(local)), tuple(sorted(set(meta.provides_extra)))
