"""Find helpers from the registry alone: a data scientist of another team should not need a clone.

The index is the source of truth: which projects are helpers, their versions and yanks (its
simple pages), each version's METADATA (read from its wheel) and release time (the wheel's
``Last-Modified``). The OCI registry only adds image digests, one per target a version has an
image of (its tags, as ``pins bump`` finds them); when it cannot be asked the catalog warns and
goes on.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from packaging.utils import canonicalize_name

from helperhub.core.defaults import INDEX_READERS, TOOL_PROJECT
from helperhub.core.dists import files_by_version
from helperhub.core.errors import ConfigError, EngineError, IntegrityError, RegistryError
from helperhub.core.metadata import CoreMetadata, wheel_metadata
from helperhub.pipelines.image_targets import list_tags, target_images
from helperhub.registry.client import (
    TIMEOUT,
    IndexFile,
    IndexSettings,
    index_helpers,
    project_files,
    project_names,
    projects_files,
    yanked_versions,
)
from helperhub.registry.server.catalog.data import is_helper

WHEEL_SHA_LABEL = "io.helperhub.wheel-sha256"
MAX_WHEEL_BYTES = 64 << 20  # helper wheels are small; refuse to pull something huge for its METADATA


@dataclass(frozen=True)
class VersionRef:
    version: str
    yanked: str | None = None  # PEP 592, from the simple page: None, or the reason ("" when none was given)


@dataclass(frozen=True)
class HelperRow:
    """One line of `helpers list`."""

    name: str
    versions: tuple[VersionRef, ...]  # newest first
    summary: str  # of the newest version; "" when it has no wheel


@dataclass(frozen=True)
class VersionDetail:
    version: str
    released: datetime | None  # the file's Last-Modified; None when the index does not send it
    requires: tuple[str, ...]
    image_digest: str | None  # the first target's (``default`` first), when its image holds this wheel
    wheel: str = ""  # "" when the version has only an sdist
    sha256: str = ""
    yanked: str | None = None  # as VersionRef.yanked
    # (target, digest, platforms) of every target whose image holds this wheel, ``default`` first
    images: tuple[TargetDigest, ...] = ()


@dataclass(frozen=True)
class TargetDigest:
    """One target's image of a version: its digest (an image index for several platforms)."""

    target: str
    digest: str
    platforms: tuple[str, ...]  # linux/amd64, ...


@dataclass(frozen=True)
class HelperDetail:
    """`helpers show NAME`: versions newest first, the newest one's description."""

    name: str
    summary: str
    extras: tuple[str, ...]
    description: str
    versions: tuple[VersionDetail, ...]
    total_versions: int  # versions in the index; ``versions`` may show fewer
    warnings: tuple[str, ...] = ()


def unknown_helper_error(name: str, helper_names: Iterable[str], index: str) -> ConfigError:
    """No helper called ``name``: name the nearest helpers, if any look alike."""
    near = difflib.get_close_matches(canonicalize_name(name), list(helper_names), n=3)
    hint = f"did you mean {', '.join(near)}?" if near else "`helperhub helpers list` shows them"
    return ConfigError(f"no helper named {name!r} in the index at {index}; {hint}")


def not_a_helper_error(name: str, index: str) -> ConfigError:
    if canonicalize_name(name) == TOOL_PROJECT:
        return ConfigError(f"{name} is the helperhub tool itself, not a helper; `helperhub helpers list` shows them")
    return ConfigError(
        f"{name} is a third-party project mirrored into the index at {index} (wheels only), not a helper; "
        "`helperhub helpers list` shows the helpers"
    )


def _last_modified(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _fetch(settings: IndexSettings, session: requests.Session, file: IndexFile) -> tuple[bytes, datetime | None]:
    """The bytes of a (small) file the index serves, checked against its link's sha256, and its
    Last-Modified."""
    try:
        with session.get(file.url, timeout=TIMEOUT, stream=True) as resp:
            if resp.status_code != 200:
                raise RegistryError(f"{file.url} answered {resp.status_code}; the file is not served")
            data = bytearray()
            for chunk in resp.iter_content(1 << 20):
                data += chunk
                if len(data) > MAX_WHEEL_BYTES:
                    raise RegistryError(f"{file.filename} is over {MAX_WHEEL_BYTES >> 20} MiB; "
                                        "a helper wheel is not that big, check the index")
            released = _last_modified(resp.headers.get("Last-Modified"))
    except requests.RequestException as exc:
        raise RegistryError(f"cannot download {file.url} ({type(exc).__name__}); check the index "
                            f"at {settings.base}") from None
    if file.sha256 and hashlib.sha256(data).hexdigest() != file.sha256:
        raise IntegrityError(f"{file.filename}: the served bytes do not match the index's sha256 "
                             f"{file.sha256}; do not use this file, investigate the registry")
    return bytes(data), released


def _head_time(session: requests.Session, url: str) -> datetime | None:
    try:
        resp = session.head(url, timeout=TIMEOUT, allow_redirects=True)
    except requests.RequestException:
        return None
    return _last_modified(resp.headers.get("Last-Modified")) if resp.status_code == 200 else None


def list_helpers(settings: IndexSettings) -> list[HelperRow]:
    """Every helper in the index, with its versions and the newest version's summary.

    One page read per project (the mirror's too: only its files tell a helper) and one wheel
    download per helper."""
    with requests.Session() as session:
        known = index_helpers(settings, session)  # the index's own rule, from its release records
        names = project_names(settings, session)
        if known is not None:
            names = [n for n in names if canonicalize_name(n) in known]
        pages = projects_files(settings, names)
        helpers = [(n, pages[canonicalize_name(n)]) for n in names
                   if known is not None or is_helper(n, pages[canonicalize_name(n)])]
        with ThreadPoolExecutor(INDEX_READERS) as pool:
            return list(pool.map(lambda h: _row(settings, session, *h), helpers))


def _row(settings: IndexSettings, session: requests.Session, name: str, files: dict[str, IndexFile]) -> HelperRow:
    versions = files_by_version(files.values())
    yanks = yanked_versions(files)
    summary = ""
    newest = versions[0][1] if versions else []
    if newest and newest[0].filename.endswith(".whl"):
        summary = wheel_metadata(_fetch(settings, session, newest[0])[0], newest[0].filename).summary
    return HelperRow(name, tuple(VersionRef(str(v), yanks.get(v)) for v, _ in versions), summary)


def show_helper(
    settings: IndexSettings, name: str, oci_registry: str | None = None, limit: int | None = None,
) -> HelperDetail:
    """The newest ``limit`` versions (all when None) of helper ``name``: release time,
    requirements, image digest, and the newest one's description."""
    name = canonicalize_name(name)
    with requests.Session() as session:
        files = project_files(settings, name, session)
        if not files:
            raise _unknown(settings, session, name)
        known = index_helpers(settings, session)
        if not (name in known if known is not None else is_helper(name, files)):
            raise not_a_helper_error(name, settings.base)
        versions = files_by_version(files.values())
        yanks = yanked_versions(files)
        shown = versions[:limit] if limit else versions
        images = _Images(oci_registry, name)
        details: list[VersionDetail] = []
        newest: CoreMetadata | None = None
        for version, vfiles in shown:
            wheel = vfiles[0] if vfiles[0].filename.endswith(".whl") else None
            if wheel is None:
                details.append(VersionDetail(str(version), _head_time(session, vfiles[0].url), (), None,
                                             yanked=yanks.get(version)))
                continue
            data, released = _fetch(settings, session, wheel)
            meta = wheel_metadata(data, wheel.filename)
            newest = newest or meta
            sha = hashlib.sha256(data).hexdigest()
            found = images.targets(str(version), sha)
            details.append(VersionDetail(str(version), released, meta.requires_dist,
                                         found[0].digest if found else None, wheel.filename, sha,
                                         yanks.get(version), found))
    return HelperDetail(
        name=name, summary=newest.summary if newest else "", extras=newest.provides_extra if newest else (),
        description=newest.description if newest else "", versions=tuple(details),
        total_versions=len(versions), warnings=tuple(images.warnings),
    )


def _unknown(settings: IndexSettings, session: requests.Session, name: str) -> ConfigError:
    """The error for a name the index does not have; only the look-alikes' pages are read."""
    names = project_names(settings, session)
    alike = difflib.get_close_matches(name, names, n=10)
    known = index_helpers(settings, session)
    helpers = [n for n in alike if (canonicalize_name(n) in known if known is not None
                                    else is_helper(n, project_files(settings, n, session)))]
    return unknown_helper_error(name, helpers, settings.base)


class _Images:
    """Image digests per target from the OCI registry (its tags read once); one warning, then no
    more tries, if it fails."""

    def __init__(self, registry: str | None, name: str) -> None:
        self.repository = f"{registry}/{name}" if registry else None
        self.warnings: list[str] = []
        self._tags: list[str] | None = None

    def targets(self, version: str, wheel_sha256: str) -> tuple[TargetDigest, ...]:
        if self.repository is None:
            return ()
        try:
            if self._tags is None:
                self._tags = list_tags(self.repository)
            found = target_images(self.repository, version, self._tags)
        except (EngineError, ValueError) as exc:
            self.warnings.append(f"image digests not shown: {exc}")
            self.repository = None
            return ()
        shown = []
        for image in found:
            if any(labels.get(WHEEL_SHA_LABEL) != wheel_sha256 for labels in image.labels.values()):
                self.warnings.append(f"{self.repository}:{image.tag} holds another wheel than the index serves "
                                     f"(label {WHEEL_SHA_LABEL}); its digest is not shown")
                continue
            shown.append(TargetDigest(image.name, image.digest, tuple(image.platforms)))
        return tuple(shown)
