"""Retention: which old files of the index may go, and why nothing keeps them. Pure: the policy
(a TOML ``[retention]`` table) and the plan, from the releases, the third-party files their
records list, and the locks teams registered (registrations.py). Every rule is a keep rule, and
any keep rule wins: a version is deleted only when none keeps it.

A helper version is kept when it is among the ``keep-newest`` newest unyanked versions of its
helper, released within ``keep-days``, yanked within ``keep-yanked-days``, pinned or listed by a
registered lock renewed within ``register-days``, or listed by the closure of a kept release.
A third-party file goes only when every release whose record lists it goes (a release that is
no helper's, such as the tool's own, never goes), and no registered lock lists it."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from packaging.utils import canonicalize_version
from packaging.version import InvalidVersion, Version

from helperhub.core.errors import ConfigError

REGISTER_DAYS = 90  # a registered lock not renewed for this long stops protecting what it pins
KEYS = {"keep-newest", "keep-days", "keep-yanked-days", "register-days"}


@dataclass(frozen=True)
class Policy:
    keep_newest: int
    keep_days: int = 0  # 0: release time keeps nothing
    keep_yanked_days: int = 0  # 0: a yanked version is kept by the other rules only
    register_days: int = REGISTER_DAYS

    def summary(self) -> dict[str, int]:
        return {"keep-newest": self.keep_newest, "keep-days": self.keep_days,
                "keep-yanked-days": self.keep_yanked_days, "register-days": self.register_days}


def parse_policy(text: str, source: str) -> Policy:
    """The ``[retention]`` table of a policy file; ConfigError in one line naming what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML ({exc}); fix it") from None
    table = data.get("retention")
    if not isinstance(table, dict):
        raise ConfigError(f"{source} must hold a [retention] table with keep-newest = N (and optionally "
                          "keep-days, keep-yanked-days, register-days)")
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ConfigError(f"{source}: [retention] has no key {', '.join(unknown)}; "
                          f"the keys are {', '.join(sorted(KEYS))}")
    values: dict[str, int] = {}
    for key, value in table.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{source}: {key} must be a whole number of 0 or more, not {value!r}")
        values[key] = value
    if values.get("keep-newest", 0) < 1:
        raise ConfigError(f"{source}: [retention] needs keep-newest = N of 1 or more "
                          "(the versions of each helper always kept)")
    if values.get("register-days", 1) < 1:
        raise ConfigError(f"{source}: register-days must be 1 or more")
    return Policy(values["keep-newest"], values.get("keep-days", 0), values.get("keep-yanked-days", 0),
                  values.get("register-days", REGISTER_DAYS))


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        raise ConfigError(f"retention policy {path} cannot be read; create it or leave --retention out") from None
    return parse_policy(text, str(path))


@dataclass(frozen=True)
class IndexVersion:
    """One version of a helper: its files, when it was released and yanked, and the files its
    release record lists (its closure and mirrored files, its own left out)."""

    project: str
    version: str
    files: tuple[str, ...]
    released: datetime
    yanked_at: datetime | None = None
    closure: frozenset[str] = frozenset()
    images: frozenset[str] = frozenset()  # repo@sha256:... its record pins (indexes and platforms)


@dataclass(frozen=True)
class Pinned:
    """What a registered lock references, as the plan sees it."""

    name: str
    registered_at: datetime
    helpers: frozenset[tuple[str, str]] = frozenset()  # (canonical project, version)
    files: frozenset[str] = frozenset()
    images: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Deletion:
    file: str
    project: str
    version: str
    size: int
    reason: str


@dataclass(frozen=True)
class ImageDeletion:
    """An image manifest to delete from its OCI registry, by digest (``repo@sha256:...``)."""

    ref: str
    project: str
    version: str
    reason: str


@dataclass(frozen=True)
class Plan:
    policy: Policy
    deletions: tuple[Deletion, ...]
    kept: dict[tuple[str, str], str] = field(default_factory=dict)  # (project, version) -> why
    images: tuple[ImageDeletion, ...] = ()

    @property
    def bytes(self) -> int:
        return sum(d.size for d in self.deletions)

    def versions(self) -> dict[tuple[str, str], list[Deletion]]:
        """The deletions grouped by (project, version): what goes together."""
        grouped: dict[tuple[str, str], list[Deletion]] = {}
        for d in self.deletions:
            grouped.setdefault((d.project, d.version), []).append(d)
        return grouped


def same_version(text: str) -> str:
    """One spelling per version (1.1 and 1.1.0 are one)."""
    return str(canonicalize_version(text))


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


Listers = frozenset[tuple[str, str]]  # the helper releases (project, version) whose records list a file


def make_plan(policy: Policy, releases: Iterable[IndexVersion], mirrored: Mapping[str, tuple[str, Listers]],
              sizes: Mapping[str, int], registrations: Iterable[Pinned], now: datetime) -> Plan:
    """The files to delete under ``policy`` at ``now``, each with why nothing keeps it.
    ``mirrored``: third-party file -> its project and the helper releases whose records list it
    (none: every release that listed it is deleted already);
    ``sizes``: bytes of every file."""
    releases = list(releases)
    active = [r for r in registrations if now - r.registered_at <= timedelta(days=policy.register_days)]
    pinned_versions = {(p, same_version(v)): r.name for r in active for p, v in r.helpers}
    pinned_files = {f: r.name for r in active for f in r.files}
    kept: dict[tuple[str, str], str] = {}
    by_project: dict[str, list[IndexVersion]] = {}
    for release in releases:
        by_project.setdefault(release.project, []).append(release)
    for project, versions in by_project.items():
        unyanked = sorted((r for r in versions if r.yanked_at is None), key=lambda r: _order(r.version), reverse=True)
        for rank, release in enumerate(unyanked[:policy.keep_newest], start=1):
            kept[_key(release)] = f"newest {rank} of {project}"
    for release in releases:
        key = _key(release)
        if key in kept:
            continue
        if (repo := pinned_versions.get((release.project, same_version(release.version)))) is not None or (
                repo := next((pinned_files[f] for f in release.files if f in pinned_files), None)) is not None:
            kept[key] = f"pinned by the registered lock of {repo}"
        elif policy.keep_days and now - release.released <= timedelta(days=policy.keep_days):
            kept[key] = f"released {_day(release.released)}, within {policy.keep_days} days"
        elif release.yanked_at is not None and policy.keep_yanked_days and (
                now - release.yanked_at <= timedelta(days=policy.keep_yanked_days)):
            kept[key] = f"yanked {_day(release.yanked_at)}, within {policy.keep_yanked_days} days"
    _keep_closures(releases, kept)
    deletions: list[Deletion] = []
    for release in sorted(releases, key=lambda r: (r.project, _order(r.version))):
        if _key(release) in kept:
            continue
        why = _why_not_kept(policy, release)
        deletions += [Deletion(f, release.project, release.version, sizes.get(f, 0), why)
                      for f in sorted(release.files)]
    # a file goes only when every release listing it goes: a lister this plan does not judge (the
    # tool's own release, a record without files) keeps it
    deleted_keys = {(r.project, same_version(r.version)) for r in releases if _key(r) not in kept}
    for name in sorted(mirrored):
        project, by = mirrored[name]
        if not {(p, same_version(v)) for p, v in by} <= deleted_keys or name in pinned_files:
            continue
        listed = (f"listed only by deleted releases ({', '.join(f'{p} {v}' for p, v in sorted(by))})" if by
                  else "its releases were deleted earlier")
        deletions.append(Deletion(name, project, _file_version(name), sizes.get(name, 0),
                                  f"third-party, {listed}; no registered lock lists it"))
    return Plan(policy, tuple(deletions), kept, _image_deletions(releases, kept, active))


def _image_deletions(releases: list[IndexVersion], kept: Mapping[tuple[str, str], str],
                     active: Iterable[Pinned]) -> tuple[ImageDeletion, ...]:
    """The images of deleted versions that no kept version and no registered lock references."""
    keep = {ref for r in releases if _key(r) in kept for ref in r.images} | {ref for p in active for ref in p.images}
    found: dict[str, ImageDeletion] = {}
    for release in sorted(releases, key=lambda r: (r.project, _order(r.version))):
        if _key(release) in kept:
            continue
        for ref in sorted(release.images - keep):
            found.setdefault(ref, ImageDeletion(
                ref, release.project, release.version,
                f"image of {release.project} {release.version}, which is deleted; "
                "no kept release and no registered lock references it"))
    return tuple(found.values())


def _keep_closures(releases: list[IndexVersion], kept: dict[tuple[str, str], str]) -> None:
    """Keep every release one of whose files a kept release's closure lists, until none is added."""
    owner = {f: r for r in releases for f in r.files}
    todo = [r for r in releases if _key(r) in kept]
    while todo:
        release = todo.pop()
        for name in release.closure:
            other = owner.get(name)
            if other is not None and _key(other) not in kept:
                kept[_key(other)] = f"in the closure of {release.project} {release.version}"
                todo.append(other)


def _why_not_kept(policy: Policy, release: IndexVersion) -> str:
    parts = [f"yanked {_day(release.yanked_at)}" + (f", over {policy.keep_yanked_days} days ago"
                                                    if policy.keep_yanked_days else "")
             if release.yanked_at is not None else f"not among the {policy.keep_newest} newest"]
    parts.append(f"released {_day(release.released)}" + (f", over {policy.keep_days} days ago"
                                                         if policy.keep_days else ""))
    parts.append("no registered lock pins it and no kept release's closure lists it")
    return "; ".join(parts)


def _key(release: IndexVersion) -> tuple[str, str]:
    return release.project, release.version


def _order(version: str) -> tuple[int, Version | str]:
    try:
        return 1, Version(version)
    except InvalidVersion:
        return 0, version


def _file_version(filename: str) -> str:
    from helperhub.core.dists import dist_version

    version = dist_version(filename)
    return str(version) if version is not None else ""
