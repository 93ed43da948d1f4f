"""`pins outdated` and `pins bump --latest/--all`: the releases newer than each pin, read from the
index's JSON simple page (yanked ones left out, pre-releases only when asked for), each with its
release time, whether it starts a new major version and what it moves in the closures, as
`pins diff` shows it; and the pins moved to the newest of them.

What a newer version would pin is what `pins bump` computes (``compute_bump``), with nothing
written. It comes from a ``PinSource``, so that an index which serves each version's release
record (its lock entry) can answer instead of a resolution, behind the same seam."""

from __future__ import annotations

import graphlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from helperhub.core.dists import WHEEL_SUFFIX, files_by_version
from helperhub.core.errors import HubError, LockError
from helperhub.lock.closure import moves
from helperhub.lock.lockfile import Lock, PackagePin, load_lock
from helperhub.pipelines.pin_bump import Bump, Relock, compute_bump, save_bumps
from helperhub.pipelines.pin_history import shared_closures, target_diff_lines
from helperhub.registry.client import IndexSettings, project_files_json, yanked_versions
from helperhub.release.versions import parse_version

# (the lock as it stands, helper, version) -> what a bump of the helper to that version writes
PinSource = Callable[[Lock, str, str], Bump]
Rows = tuple[tuple[str, str, str], ...]  # closure.moves: (name, old version or "-", new version or "-")


@dataclass(frozen=True)
class Release:
    """A version of a helper that a pin can move to: the index has its wheel."""

    version: Version
    released_at: str | None  # its first file's upload time (PEP 700), UTC to the second; None: not said
    yanked: str | None = None  # PEP 592: None, or the reason


@dataclass(frozen=True)
class Moves:
    """What moving a pin to another version changes in its closures."""

    closures: dict[str, dict[str, Rows]]  # target -> platform -> moved distributions
    targets_added: tuple[str, ...] = ()
    targets_removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Newer:
    """A release newer than the pin, and what a bump to it pins: ``bump`` None when it cannot be
    pinned, ``moves`` None when its closures cannot be compared (``problem`` says why)."""

    release: Release
    major: bool  # its major version number is not the pinned one's
    bump: Bump | None = None
    moves: Moves | None = None
    lines: tuple[str, ...] = ()  # the moves as `pins diff` prints them
    problem: str = ""


@dataclass(frozen=True)
class PinReport:
    """One helper: its pin (None before it is pinned) and the newer releases, oldest first."""

    name: str
    pinned: PackagePin | None
    newer: tuple[Newer, ...]
    latest: str | None  # the newest release that counts, the pinned one included; None: none


def computed_source(index: IndexSettings, oci_registry: str | None, helpers: set[str], kfp_version: str,
                    targets: Sequence[str] = (), verify: Callable[[PackagePin], None] | None = None) -> PinSource:
    """What `pins bump` computes: resolved from the index and the OCI registry (``verify``: the
    provenance check a bump makes before it writes)."""

    def source(lock: Lock, name: str, version: str) -> Bump:
        return compute_bump(lock, name, version, index, oci_registry, helpers, kfp_version, targets, verify)

    return source


def index_releases(index: IndexSettings, name: str) -> list[Release]:
    """The versions of ``name`` the index has a wheel of, newest first."""
    files = project_files_json(index, name)
    yanks = yanked_versions(files)
    found = []
    for version, vfiles in files_by_version(files.values()):
        if any(f.filename.endswith(WHEEL_SUFFIX) for f in vfiles):
            times = [t for f in vfiles if (t := _utc(f.upload_time)) is not None]
            found.append(Release(version, _shown(min(times)) if times else None, yanks.get(version)))
    return found


def candidates(releases: Sequence[Release], pinned: str | None, *, pre: bool = False) -> list[Release]:
    """The releases a pin can move to, oldest first: newer than ``pinned`` (None: any), not yanked,
    no pre-release unless ``pre``."""
    floor = parse_version(pinned) if pinned else None
    return sorted((r for r in releases if _counts(r, pre) and (floor is None or r.version > floor)),
                  key=lambda r: r.version)


def outdated(lock: Lock, index: IndexSettings, source: PinSource, names: Sequence[str] = (), *,
             pre: bool = False) -> list[PinReport]:
    """Per pin (``names``: only those), the newer releases and what a bump to each would pin,
    computed against the lock as it stands. A release that cannot be pinned is reported with why."""
    reports = []
    for name in sorted({canonicalize_name(n) for n in names} or lock.packages):
        pin = lock.require(name, fix=f"helperhub pins bump {name} --latest")
        releases = index_releases(index, name)
        newer = []
        for release in candidates(releases, pin.version, pre=pre):
            try:
                bump = source(lock, name, str(release.version))
            except HubError as exc:
                newer.append(Newer(release, _major(pin, release), problem=str(exc)))
                continue
            newer.append(newer_release(pin, release, bump))
        reports.append(PinReport(name, pin, tuple(newer), _latest(releases, pre)))
    return reports


def bump_latest(lock_path: Path, names: Sequence[str], index: IndexSettings, source: PinSource, *,
                pre: bool = False, relock: Relock | None = None) -> list[PinReport]:
    """Move each named helper (none: every pin) to its newest release, pinning one not pinned yet:
    in dependency order, each computed against the lock as the ones before left it, and all
    written at once with the environments ``relock`` locks again against them, or nothing. Per
    helper, the release it moved to (none: it has the newest)."""
    lock = load_lock(lock_path)
    wanted: list[str] = [canonicalize_name(n) for n in names] or sorted(lock.packages)
    if not wanted:
        raise LockError("pins.json has no pins to move; pin a helper first: helperhub pins bump NAME --latest")
    reports, bumps = [], []
    for name in dependency_order(lock, wanted):
        pin = lock.get(name)
        releases = index_releases(index, name)
        newest = candidates(releases, pin.version if pin else None, pre=pre)[-1:]
        if not newest and pin is None:
            hint = "" if pre or not releases else " (pre-releases count with --pre)"
            raise LockError(f"{name} has no release to pin in the index at {index.base}{hint}; "
                            "release it with `make release`")
        if not newest:
            reports.append(PinReport(name, pin, (), _latest(releases, pre)))
            continue
        bump = source(lock, name, str(newest[0].version))
        lock = bump.apply(lock)  # the helpers after it resolve within its new closure
        bumps.append(bump)
        reports.append(PinReport(name, pin, (newer_release(pin, newest[0], bump),), str(newest[0].version)))
    if bumps:
        save_bumps(lock_path, bumps, relock(lock) if relock is not None else ())
    return reports


def dependency_order(lock: Lock, names: Sequence[str]) -> list[str]:
    """``names``, each after those of them its pin depends on."""
    wanted = list(dict.fromkeys(names))
    pins = {n: lock.get(n) for n in wanted}
    graph = {n: {canonicalize_name(Requirement(d).name) for d in (pin.depends if pin else ())} & set(wanted)
             for n, pin in pins.items()}
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError:
        raise LockError(f"the pins of {', '.join(wanted)} depend on each other in a cycle; "
                        "bump them one at a time with `helperhub pins bump NAME VERSION`") from None


def newer_release(pin: PackagePin | None, release: Release, bump: Bump) -> Newer:
    """``release`` as a move of ``pin`` to ``bump``'s pin: the closures' moves per target and platform."""
    if pin is None:
        return Newer(release, False, bump)
    try:
        lines = tuple(target_diff_lines(pin, bump.pin))
        moved = closure_moves(pin, bump.pin)
    except LockError as exc:
        return Newer(release, _major(pin, release), bump, problem=f"closures not compared: {exc}")
    return Newer(release, _major(pin, release), bump, moved, lines)


def closure_moves(old: PackagePin, new: PackagePin) -> Moves:
    """What `pins diff` compares: each target and platform both pins have (nothing in common: the
    default targets, under the new pin's), and the targets only one of them has."""
    pairs = shared_closures(old, new)
    closures: dict[str, dict[str, Rows]] = {}
    if pairs == [(old.default_target, "")]:
        after = new.require_target()
        rows = moves(old.require_target().files() or old.require_closure(), after.files())
        closures[new.default_target] = {next(iter(after.platforms), ""): tuple(rows)}
    for target, platform in pairs:
        if platform:
            rows = moves(old.targets[target].closure[platform], new.targets[target].closure[platform])
            closures.setdefault(target, {})[platform] = tuple(rows)
    return Moves(closures, tuple(sorted(set(new.targets) - set(old.targets))),
                 tuple(sorted(set(old.targets) - set(new.targets))))


def report_lines(reports: Sequence[PinReport]) -> list[str]:
    """Per helper: one line when it has the newest release, else a block per newer release (its
    facts, then the moves `pins diff` prints, indented)."""
    lines = []
    for report in reports:
        pinned = report.pinned.version if report.pinned else None
        if not report.newer:
            state = "up to date" if report.latest else "no release in the index"
            lines.append(f"{report.name} {pinned}: {state}")
        for newer in report.newer:
            facts = [f"released {newer.release.released_at}" if newer.release.released_at else "release time unknown"]
            if newer.major:
                facts.append("new major version")
            head = f"{report.name} {pinned} -> {newer.release.version}" if pinned else (
                f"{report.name} pinned to {newer.release.version}")
            lines.append(f"{head} ({', '.join(facts)})")
            lines += [f"    {line}" for line in newer.lines]
            if newer.problem:
                lines.append(f"    {'cannot be pinned: ' if newer.bump is None else ''}{newer.problem}")
    return lines


def report_json(reports: Sequence[PinReport]) -> list[dict[str, Any]]:
    """The documented shape of `pins outdated --json` (docs/pipeline-authors.md)."""
    return [{"name": r.name, "pinned": r.pinned.version if r.pinned else None, "latest": r.latest,
             "newer": [_newer_json(n) for n in r.newer]} for r in reports]


def _newer_json(newer: Newer) -> dict[str, Any]:
    moved = newer.moves
    return {
        "version": str(newer.release.version), "released_at": newer.release.released_at, "major": newer.major,
        "closure": None if moved is None else {
            target: {platform: _rows_json(rows) for platform, rows in platforms.items()}
            for target, platforms in moved.closures.items()},
        "targets": None if moved is None else {"added": list(moved.targets_added),
                                               "removed": list(moved.targets_removed)},
        "problem": newer.problem or None,
    }


def _rows_json(rows: Rows) -> dict[str, list[dict[str, str]]]:
    return {
        "added": [{"name": n, "version": new} for n, old, new in rows if old == "-"],
        "removed": [{"name": n, "version": old} for n, old, new in rows if new == "-"],
        "changed": [{"name": n, "from": old, "to": new} for n, old, new in rows if "-" not in (old, new)],
    }


def _counts(release: Release, pre: bool) -> bool:
    return release.yanked is None and (pre or not release.version.is_prerelease)


def _latest(releases: Sequence[Release], pre: bool) -> str | None:
    return next((str(r.version) for r in releases if _counts(r, pre)), None)


def _major(pin: PackagePin, release: Release) -> bool:
    return release.version.major != parse_version(pin.version).major


def _utc(text: str | None) -> datetime | None:
    """A PEP 700 upload time (ISO 8601, ``Z``); None when missing or unreadable."""
    try:
        return datetime.fromisoformat(text).astimezone(UTC) if text else None
    except ValueError:
        return None


def _shown(when: datetime) -> str:
    """As the lock writes times: UTC, to the second."""
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")
