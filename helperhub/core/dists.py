"""What a distribution file's name says: its version, and a project's files grouped by version.
Pure; the index server (pages, catalog) and the client (``helpers list|show``, yanks) share it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypeVar

from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

WHEEL_SUFFIX = ".whl"


class DistFile(Protocol):
    @property
    def filename(self) -> str: ...


F = TypeVar("F", bound=DistFile)


def dist_version(filename: str) -> Version | None:
    """The version a wheel or sdist file name carries; None for any other name."""
    try:
        if filename.endswith(WHEEL_SUFFIX):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except ValueError:  # InvalidWheelFilename, InvalidSdistFilename, InvalidVersion
        return None


def files_by_version(files: Iterable[F]) -> list[tuple[Version, list[F]]]:
    """A project's files by version, newest first; within a version wheels first (their METADATA
    is what a reader wants), then by name. Files whose name carries no version are left out."""
    groups: dict[Version, list[F]] = {}
    for f in files:
        if (version := dist_version(f.filename)) is not None:
            groups.setdefault(version, []).append(f)
    return [(v, sorted(groups[v], key=lambda f: (not f.filename.endswith(WHEEL_SUFFIX), f.filename)))
            for v in sorted(groups, reverse=True)]
