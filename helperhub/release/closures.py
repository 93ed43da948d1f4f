"""A helper's dependency closure for every target and platform of a release, fetched on the host
before anything is uploaded: a target no wheel can meet stops the release while the index is
untouched. Re-releasing the same source keeps each locked closure whose runtime is unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from helperhub.core.errors import RegistryError
from helperhub.core.targets import TargetFacts
from helperhub.core.wheelhouse import fetch_closure
from helperhub.images.targets import ResolvedTarget
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import PackagePin
from helperhub.release.resolve import fetch_locked


@dataclass(frozen=True)
class TargetClosure:
    """One platform of one target: its runtime, the locked files kept (a re-release of the same
    source; ``()``: resolve anew) and the wheels the index must serve for it."""

    target: ResolvedTarget
    platform: str
    kept: tuple[LockedFile, ...]
    wheels: tuple[Path, ...]

    @property
    def facts(self) -> TargetFacts:
        return self.target.facts[self.platform]


def kept_closure(previous: PackagePin | None, target: ResolvedTarget, platform: str) -> tuple[LockedFile, ...]:
    """The closure the lock holds for this release on ``platform`` of ``target``, if it was resolved
    for the same runtime; else ``()``."""
    pinned = previous.targets.get(target.name) if previous is not None else None
    if pinned is None or platform not in pinned.closure or pinned.facts(platform) != target.facts[platform]:
        return ()
    return pinned.files(platform)


def fetch_target_closures(
    name: str, requirements: list[str], targets: tuple[ResolvedTarget, ...], cache: Path,
    previous: PackagePin | None, skip: set[str],
) -> tuple[TargetClosure, ...]:
    """Every target's and platform's wheels of helper ``name`` (its ``requirements``), from the
    host's wheelhouse or indexes; ``skip``: the repository's helpers, which are not fetched."""
    out = []
    for target in targets:
        for platform in target.platforms:
            facts = target.facts[platform]
            kept = kept_closure(previous, target, platform)
            try:
                wheels = (fetch_locked(kept, cache, skip=skip, target=facts) if kept
                          else fetch_closure(requirements, cache, facts))
            except RegistryError as exc:
                raise RegistryError(f"{name} for target {target.name} ({platform}): {exc}") from None
            out.append(TargetClosure(target, platform, kept, tuple(wheels)))
    return tuple(out)
