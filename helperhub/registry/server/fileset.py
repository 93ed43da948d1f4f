"""One file set per release: once a version has files, a new file for that version is accepted
only if no installer could choose it instead of an existing one. A build-tagged twin of a wheel
(``x-1.0-1-py3-none-any.whl`` beside ``x-1.0-py3-none-any.whl``) would be preferred by pip for
``x==1.0``, so a pinned version could silently run other code; a wheel for another platform or
interpreter of a mirrored third-party version stays possible. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Iterable

from packaging.tags import Tag
from packaging.utils import parse_sdist_filename, parse_wheel_filename
from packaging.version import Version

_GENERIC = re.compile(r"^py(?P<major>\d)(?P<minor>\d*)$")
_CPYTHON = re.compile(r"^(?P<impl>[a-z]+)(?P<major>\d)(?P<minor>\d*)$")
_MAC = re.compile(r"^macosx_\d+_\d+_(?P<arch>.+)$")
_LINUX = re.compile(r"^(?P<libc>manylinux|musllinux)(?:_\d+_\d+|1|2010|2014)?_(?P<arch>.+)$")
_MAC_FAT = {"universal2": {"x86_64", "arm64"}, "universal": {"x86_64", "i386", "ppc", "ppc64"},
            "intel": {"x86_64", "i386"}, "fat": {"i386", "ppc"}, "fat3": {"x86_64", "i386", "ppc"},
            "fat64": {"x86_64", "ppc64"}}


def _platforms(platform: str) -> set[tuple[str, str]]:
    """(system, architecture) pairs a platform tag installs on; manylinux variants of one
    architecture share a machine, as do the macOS versions of one architecture."""
    if platform == "any":
        return {("any", "any")}
    if (mac := _MAC.match(platform)) is not None:
        arch = mac["arch"]
        return {("macos", a) for a in _MAC_FAT.get(arch, {arch})}
    if (linux := _LINUX.match(platform)) is not None:
        return {("glibc" if linux["libc"] == "manylinux" else "musl", linux["arch"])}
    if platform.startswith("linux_"):
        return {("glibc", platform.removeprefix("linux_"))}
    return {(platform, platform)}


def _platforms_meet(a: str, b: str) -> bool:
    pa, pb = _platforms(a), _platforms(b)
    return ("any", "any") in pa or ("any", "any") in pb or bool(pa & pb)


def _interpreters_meet(a: Tag, b: Tag) -> bool:
    """Whether one interpreter could install both tags: equal ones; a generic ``pyN`` tag and any
    interpreter of that major version; a stable-ABI (``abi3``) CPython tag and later CPythons."""
    if a.interpreter == b.interpreter:
        return True
    for x, y in ((a, b), (b, a)):
        generic = _GENERIC.match(x.interpreter)
        other = _CPYTHON.match(y.interpreter)
        if generic is not None and other is not None and generic["major"] == other["major"]:
            return True
        stable = _CPYTHON.match(x.interpreter) if x.abi == "abi3" else None
        if stable is not None and other is not None and stable["impl"] == other["impl"] == "cp" \
                and stable["major"] == other["major"] and int(other["minor"] or 0) >= int(stable["minor"] or 0):
            return True
    return False


def tags_meet(a: Tag, b: Tag) -> bool:
    """Whether some interpreter on some machine accepts both tags (ABIs are taken to meet: a
    pure and a compiled wheel of one version both install on the same CPython)."""
    return _interpreters_meet(a, b) and _platforms_meet(a.platform, b.platform)


def _version_and_tags(filename: str) -> tuple[Version, frozenset[Tag] | None]:
    """A wheel's version and tags; an sdist's version and None."""
    if filename.endswith(".whl"):
        _name, version, _build, tags = parse_wheel_filename(filename)
        return version, tags
    return parse_sdist_filename(filename)[1], None


def shadowed_by(new: str, existing: Iterable[str]) -> str | None:
    """The existing file of the same version that ``new`` could be chosen instead of, if any.

    ``existing`` holds the file names already stored for the project (all valid dist names).
    Sdists are one per version: an installer takes one only when no wheel fits, so a second
    sdist of a version is a twin whatever its spelling of the version."""
    version, tags = _version_and_tags(new)
    for other in existing:
        if other == new:
            continue
        oversion, otags = _version_and_tags(other)
        if oversion != version:
            continue
        if tags is None and otags is None:
            return other
        if tags is not None and otags is not None and any(tags_meet(a, b) for a in tags for b in otags):
            return other
    return None
