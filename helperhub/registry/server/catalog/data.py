"""The catalog's values from what the index records: each file's facts (store.py), the METADATA of
its releases, yanks, owners and image digests. Pure functions; the catalog cache calls them once
per change.

A helper is a project with an sdist, other than the tool itself: a release uploads a helper's wheel
and sdist, the closure mirror uploads third-party wheels only (as ``helperhub helpers list`` tells
them apart)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

from packaging.utils import canonicalize_name

from helperhub.core.defaults import TARGET_NAME, TOOL_PROJECT
from helperhub.core.dists import dist_version, files_by_version
from helperhub.core.metadata import CoreMetadata
from helperhub.registry.server.catalog.model import HelperEntry, HelperVersion, ReleaseFile, ThirdParty
from helperhub.registry.server.metadata import FileFacts
from helperhub.registry.server.notes import by_version

SDIST_SUFFIX = ".tar.gz"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the release time of a file whose upload time is unknown


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


def build_entry(
    project: str,
    files: Iterable[FileFacts],
    metadata: Callable[[str], CoreMetadata | None],
    *,
    yanked: Mapping[str, str] | None = None,
    owners: tuple[str, ...] = (),
    images: Mapping[str, Mapping[str, str] | str] | None = None,
) -> HelperEntry | None:
    """One helper's entry: each version's files, release time (its first file's upload time),
    yank reason, requirements and images (``images``: version -> target -> ref); names, summary
    and description from the newest version's metadata. ``metadata`` gives a file's parsed
    metadata (None if it has none).
    None for a project without a single versioned file."""
    groups = files_by_version(files)
    if not groups:
        return None
    yanks, digests = by_version(yanked or {}), by_version(images or {})
    versions: list[HelperVersion] = []
    newest: CoreMetadata | None = None
    for version, vfiles in groups:
        meta = next((m for f in vfiles if (m := metadata(f.filename)) is not None), None)
        if newest is None:  # the newest version with metadata names and describes the helper
            newest = meta
        versions.append(HelperVersion(
            version=str(version),
            released=min(released_at(f.upload_time) for f in vfiles),
            yanked=yanks.get(version),
            requires_dist=meta.requires_dist if meta else (),
            requires_python=next((f.requires_python for f in vfiles if f.requires_python), None),
            files=tuple(ReleaseFile(f.filename, f.sha256, f.size or 0)
                        for f in sorted(vfiles, key=lambda f: f.filename)),
            images=_target_images(digests.get(version)),
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


def _target_images(refs: Mapping[str, str] | str | None) -> tuple[tuple[str, str], ...]:
    """(target, ref) of a version's images; a plain ref is the target ``default``'s, as before targets."""
    if refs is None:
        return ()
    return ((TARGET_NAME, refs),) if isinstance(refs, str) else tuple(refs.items())


def third_party(project: str, filenames: Iterable[str]) -> ThirdParty:
    versions = {v for f in filenames if (v := dist_version(f)) is not None}
    return ThirdParty(project, tuple(str(v) for v in versions))
