"""A distribution's core metadata (a wheel's ``*.dist-info/METADATA``, an sdist's ``PKG-INFO``),
read once and one way for the index server (at upload, for its pages and its catalog) and for the
client (``helpers list|show``, ``pins bump``).

Parsing is ``packaging.metadata.parse_email``'s, so folded headers and multiple-use fields are read
as installers read them. Lenient by design: a field that is missing or cannot be read is empty, and
the caller decides what it cannot do without (the upload check refuses a missing Name or Version).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from packaging.metadata import RawMetadata, parse_email
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from helperhub.core.errors import MetadataError

METADATA_SUFFIX = ".dist-info/METADATA"
# what a broken zip makes the standard library raise
UNREADABLE_ZIP = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError,
                  ValueError, OSError)


@dataclass(frozen=True)
class CoreMetadata:
    """What a release says about itself. Single-line fields have their whitespace folded to one
    space; ``requires_dist`` keeps markers and extras as written."""

    name: str = ""  # as written (``Tabular_Helpers``); canonicalize it to compare
    version: str = ""
    summary: str = ""
    description: str = ""  # the body, or the older ``Description`` header
    description_content_type: str = ""
    requires_dist: tuple[str, ...] = ()
    provides_extra: tuple[str, ...] = ()
    requires_python: str | None = None  # None when absent or not a valid specifier (installers refuse those)
    license: str = ""  # License-Expression, else License


def _one_line(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _first(raw: RawMetadata, unparsed: dict[str, list[str]], key: str) -> object:
    """A single-use field; written twice, the first one counts (as ``email.message.Message.get``)."""
    value = raw.get(key)
    header = key.replace("_", "-")  # parse_email keys what it could not parse by the header's name
    if value is None and unparsed.get(header):
        value = unparsed[header][0]
    return value


def _requires_python(value: object) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return None
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        return None
    return text


def _description(raw: RawMetadata, unparsed: dict[str, list[str]]) -> str:
    """The body; with both a body and the older header (parse_email leaves both unparsed), the
    body unless it is blank."""
    text = raw.get("description")
    if text is None:
        both = [t for t in unparsed.get("description", []) if isinstance(t, str)]
        text = next((t for t in reversed(both) if t.strip()), both[0] if both else "")
    return text.strip("\n")


def parse_core_metadata(raw: bytes | str) -> CoreMetadata:
    """Core metadata in its email-header format; never raises (undecodable bytes are replaced)."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    fields, unparsed = parse_email(text)
    return CoreMetadata(
        name=_one_line(_first(fields, unparsed, "name")),
        version=_one_line(_first(fields, unparsed, "version")),
        summary=_one_line(_first(fields, unparsed, "summary")),
        description=_description(fields, unparsed),
        description_content_type=_one_line(_first(fields, unparsed, "description_content_type")),
        requires_dist=tuple(_one_line(r) for r in fields.get("requires_dist", ())),
        provides_extra=tuple(_one_line(e) for e in fields.get("provides_extra", ())),
        requires_python=_requires_python(_first(fields, unparsed, "requires_python")),
        license=_one_line(_first(fields, unparsed, "license_expression") or _first(fields, unparsed, "license")),
    )


def metadata_members(names: Iterable[str]) -> list[str]:
    """The archive members that may be a wheel's METADATA: ``<anything>.dist-info/METADATA`` at depth 1."""
    return [n for n in names if n.count("/") == 1 and n.endswith(METADATA_SUFFIX)]


def metadata_member(names: Iterable[str], filename: str) -> str:
    """The one ``*.dist-info/METADATA`` of a wheel (given its member names); none or several is
    not a wheel."""
    found = metadata_members(names)
    if len(found) != 1:
        raise MetadataError(f"{filename} has {len(found)} *.dist-info/METADATA files at its top, not one; "
                            "it is not a valid wheel")
    return found[0]


def wheel_metadata(wheel: bytes, filename: str = "wheel") -> CoreMetadata:
    """The core metadata of a wheel held in memory (the client's downloads; the index server
    reads uploads within its own caps and passes the bytes to ``parse_core_metadata``)."""
    try:
        with zipfile.ZipFile(io.BytesIO(wheel)) as zf:
            raw = zf.read(metadata_member(zf.namelist(), filename))
    except UNREADABLE_ZIP as exc:
        raise MetadataError(f"{filename} is not a readable zip file ({type(exc).__name__}); "
                            "it is not a valid wheel") from None
    return parse_core_metadata(raw)
