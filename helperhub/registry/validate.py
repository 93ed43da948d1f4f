"""What an upload must be before the registry stores it: a safe, normalised file name, and an
archive whose own metadata names the same project and version. Pure functions."""

from __future__ import annotations

import email.parser
import re
import tarfile
import zipfile
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UploadRefused(ValueError):
    """The upload is refused; the message says why (sent to the client)."""


def check_filename(filename: str) -> tuple[str, Version]:
    """The canonical project name and version of an acceptable dist file name."""
    if not filename or "/" in filename or "\\" in filename or filename in (".", "..") or ".." in filename:
        raise UploadRefused(f"file name {filename!r} contains a path; upload a plain dist file name")
    if CONTROL.search(filename) or filename.startswith("."):
        raise UploadRefused(f"file name {filename!r} has control characters or is hidden")
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
        elif filename.endswith(".tar.gz"):
            name, version = parse_sdist_filename(filename)
        else:
            raise UploadRefused(f"{filename!r} is neither a wheel nor a .tar.gz sdist")
    except (InvalidWheelFilename, InvalidSdistFilename) as exc:
        raise UploadRefused(f"{filename!r} is not a valid dist file name ({exc})") from None
    stem = filename.split("-", 1)[0]
    expected = canonicalize_name(name).replace("-", "_")
    if stem != expected:
        raise UploadRefused(f"{filename!r}: the project part must be the normalised {expected!r} (PEP 427/625)")
    return canonicalize_name(name), version


def _metadata(text: str) -> tuple[str, Version]:
    msg = email.parser.Parser().parsestr(text, headersonly=True)
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        raise UploadRefused("the archive's metadata has no Name or Version")
    try:
        return canonicalize_name(name), Version(version)
    except ValueError:
        raise UploadRefused(f"the archive's metadata version {version!r} is not PEP 440") from None


def read_archive_metadata(path: Path, filename: str) -> tuple[str, Version]:
    """Name and version from the archive's own METADATA / PKG-INFO (and prove it is readable)."""
    try:
        if filename.endswith(".whl"):
            with zipfile.ZipFile(path) as whl:
                if whl.testzip() is not None:
                    raise UploadRefused(f"{filename!r} is a corrupt zip archive")
                metas = [n for n in whl.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
                if len(metas) != 1:
                    raise UploadRefused(f"{filename!r} has no single .dist-info/METADATA")
                return _metadata(whl.read(metas[0]).decode("utf-8"))
        with tarfile.open(path, "r:gz") as sdist:
            infos = [m for m in sdist.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")]
            if len(infos) != 1 or (fh := sdist.extractfile(infos[0])) is None:
                raise UploadRefused(f"{filename!r} has no top-level PKG-INFO")
            return _metadata(fh.read().decode("utf-8"))
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, UnicodeDecodeError) as exc:
        raise UploadRefused(f"{filename!r} is not a readable archive ({type(exc).__name__})") from None


def check_archive(path: Path, filename: str) -> None:
    name, version = check_filename(filename)
    meta_name, meta_version = read_archive_metadata(path, filename)
    if (meta_name, meta_version) != (name, version):
        raise UploadRefused(
            f"{filename!r} says {name} {version} but its metadata says {meta_name} {meta_version}"
        )
