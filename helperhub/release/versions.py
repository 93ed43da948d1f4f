"""The one version source of a helper package: ``__version__ = "X"`` in its ``__init__.py``."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.version import InvalidVersion, Version

from helperhub.core.errors import VersionError

VERSION_LINE = re.compile(r'^__version__ = "(?P<version>[^"]*)"$', re.MULTILINE)
BUMP_PARTS = ("major", "minor", "patch")


def parse_version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        raise VersionError(
            f"{text!r} is not a valid PEP 440 version; use something like 1.2.0 or 1.2.0rc1"
        ) from None


def read_version(source: Path) -> Version:
    match = VERSION_LINE.search(source.read_text(encoding="utf-8"))
    if match is None:
        raise VersionError(f'{source} has no line `__version__ = "X.Y.Z"`; add one')
    return parse_version(match["version"])


def next_version(current: Version, how: str) -> Version:
    """``how`` is major/minor/patch or an explicit version that must be higher than now."""
    if how in BUMP_PARTS:
        major, minor, patch = [*current.release, 0, 0][:3]
        if how == "major":
            return Version(f"{major + 1}.0.0")
        if how == "minor":
            return Version(f"{major}.{minor + 1}.0")
        return Version(f"{major}.{minor}.{patch + (0 if current.pre or current.dev else 1)}")
    wanted = parse_version(how)
    if wanted <= current:
        raise VersionError(f"{wanted} is not higher than the current {current}; pick a higher one")
    return wanted


def write_version(source: Path, version: Version) -> None:
    from helperhub.core.fs import atomic_write_text

    text = source.read_text(encoding="utf-8")
    atomic_write_text(source, VERSION_LINE.sub(f'__version__ = "{version}"', text, count=1))
