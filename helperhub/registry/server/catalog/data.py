"""The catalog's values from what the index records: each file's facts (store.py), the METADATA of
its releases, yanks, owners and image digests. Pure functions; the catalog cache calls them once
per change.

A helper is a project with an sdist, other than the tool itself: a release uploads a helper's wheel
and sdist, the closure mirror uploads third-party wheels only (as ``helperhub helpers list`` tells
them apart)."""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from packaging.utils import canonicalize_name
from packaging.version import Version

from helperhub.core.defaults import TOOL_PROJECT
from helperhub.registry.server.catalog.model import HelperEntry, HelperVersion, ReleaseFile, ThirdParty
from helperhub.registry.server.metadata import FileFacts
from helperhub.registry.server.notes import by_version
from helperhub.registry.server.simple.pages import version_of

SDIST_SUFFIX = ".tar.gz"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the release time of a file whose upload time is unknown


@dataclass(frozen=True)
class ReleaseMetadata:
    """What a release's METADATA (or an sdist's PKG-INFO) says that the catalog shows."""

    name: str
    summary: str = ""
    description: str = ""
    description_content_type: str = ""
    requires_dist: tuple[str, ...] = ()


def parse_metadata(raw: bytes) -> ReleaseMetadata:
    """Core metadata (email-header format); the description is the body, or the older header."""
    msg = email.parser.Parser(policy=email.policy.compat32).parsestr(raw.decode("utf-8", errors="replace"))
    body = msg.get_payload()
    description = body if isinstance(body, str) and body.strip() else str(msg.get("Description", ""))
    return ReleaseMetadata(
        name=" ".join(str(msg.get("Name", "")).split()),
        summary=" ".join(str(msg.get("Summary", "")).split()),
        description=description.strip("\n"),
        description_content_type=" ".join(str(msg.get("Description-Content-Type", "")).split()),
        requires_dist=tuple(" ".join(str(r).split()) for r in msg.get_all("Requires-Dist") or ()),
    )


def is_helper(project: str, filenames: Iterable[str]) -> bool:
    """A helper is a project with at least one sdist in the index, other than the tool itself.

    The release uploads a helper's wheel and its sdist; the closure mirror uploads third-party
    wheels only. So an sdist is what tells a released helper from a mirrored dependency."""
    return canonicalize_name(project) != TOOL_PROJECT and any(f.endswith(SDIST_SUFFIX) for f in filenames)


def released_at(stamp: str | None) -> datetime:
    """A PEP 700 upload time as an aware datetime (EPOCH when unknown or unreadable)."""
    if not stamp:
        return EPOCH
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return EPOCH
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def group_versions(files: Iterable[FileFacts]) -> dict[Version, list[FileFacts]]:
    """A project's files by version; within a version wheels first (their METADATA is served)."""
    groups: dict[Version, list[FileFacts]] = {}
    for facts in files:
        version = version_of(facts.filename)
        if version is not None:
            groups.setdefault(version, []).append(facts)
    return {v: sorted(fs, key=lambda f: (not f.filename.endswith(".whl"), f.filename)) for v, fs in groups.items()}


def build_entry(
    project: str,
    files: Iterable[FileFacts],
    metadata: Callable[[str], ReleaseMetadata | None],
    *,
    yanked: Mapping[str, str] | None = None,
    owners: tuple[str, ...] = (),
    images: Mapping[str, str] | None = None,
) -> HelperEntry | None:
    """One helper's entry: each version's files, release time (its first file's upload time),
    yank reason, requirements and image; names, summary and description from the newest
    version's metadata. ``metadata`` gives a file's parsed metadata (None if it has none).
    None for a project without a single versioned file."""
    groups = group_versions(files)
    if not groups:
        return None
    yanks, digests = by_version(yanked or {}), by_version(images or {})
    versions: list[HelperVersion] = []
    newest: ReleaseMetadata | None = None
    for version in sorted(groups, reverse=True):
        vfiles = groups[version]
        meta = next((m for f in vfiles if (m := metadata(f.filename)) is not None), None)
        if newest is None:  # the newest version with metadata names and describes the helper
            newest = meta
        versions.append(HelperVersion(
            version=str(version),
            released=min(released_at(f.upload_time) for f in vfiles),
            yanked=yanks.get(version),
            requires_dist=meta.requires_dist if meta else (),
            requires_python=next((f.requires_python for f in vfiles if f.requires_python), None),
            image=digests.get(version),
            files=tuple(ReleaseFile(f.filename, f.sha256, f.size or 0)
                        for f in sorted(vfiles, key=lambda f: f.filename)),
        ))
    return HelperEntry(
        name=project,
        display_name=(newest.name if newest and newest.name else project),
        versions=tuple(versions),
        owners=owners,
        summary=newest.summary if newest else "",
        description=newest.description if newest else "",
        description_content_type=newest.description_content_type if newest else "",
    )


def third_party(project: str, filenames: Iterable[str]) -> ThirdParty:
    versions = {v for f in filenames if (v := version_of(f)) is not None}
    return ThirdParty(project, tuple(str(v) for v in versions))
