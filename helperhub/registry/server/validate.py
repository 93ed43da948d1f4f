"""What an upload must be before the registry stores it: a safe, normalised file name, and an
archive whose own metadata names the same project and version. Pure functions.

An upload is hostile until proven otherwise, so an archive is never decompressed as a whole: a
wheel's zip central directory is checked against the caps below before a byte is inflated, and
only its METADATA is read, with a bounded read; an sdist is streamed only as far as its PKG-INFO,
counting every decompressed byte. A zip or gzip bomb is refused in well under a second, at flat
memory.
"""

from __future__ import annotations

import gzip
import lzma
import os
import re
import struct
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Protocol

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from helperhub.core.metadata import UNREADABLE_ZIP, metadata_members, parse_core_metadata

CONTROL = re.compile(r"[\x00-\x1f\x7f]")

# Caps on what an archive may declare, checked before anything is decompressed. Real ML wheels
# compress their .so files ~2-5x and text ~10-50x (numpy, scipy, pandas, sklearn: 3-4x overall,
# kubernetes 8.5x), and their largest members (libtorch_cuda.so and the like) stay under 2 GiB.
# Deflate tops out near 1032x, reached by runs of one byte: bombs, but also small libraries
# padded to 2 MiB page alignment (pillow's 2 MiB libXau holds 9 KiB of code and inflates 224x).
# So the per-member ratio (200x, 4x the most compressible real text) applies only above 16 MiB,
# and the whole archive may inflate to at most 100x its size plus 64 MiB of slack (small
# wheels and sdists of plain text, padded libraries): a 1 MB bomb gets 164 MB, not 1 GiB.
# Members are capped at 100k (the largest wheels have ~20k; zipfile spends ~0.5 KiB of
# memory per entry). METADATA / PKG-INFO is a few KiB; 16 MiB is beyond any real description.
MAX_MEMBERS = 100_000
MAX_CENTRAL_DIRECTORY = 32 << 20  # zipfile reads the whole directory into memory: ~330 B per member
MAX_MEMBER_SIZE = 4 << 30
MAX_MEMBER_RATIO = 200
RATIO_EXEMPT_SIZE = 16 << 20  # smaller members may be mostly padding: the total cap bounds those
MAX_TOTAL_RATIO = 100
TOTAL_SLACK = 64 << 20
MAX_METADATA = 16 << 20
MAX_TAR_HEADER = 1 << 20  # pax / GNU long-name headers, which tar readers hold in memory

CHUNK = 1 << 20
BLOCK = tarfile.BLOCKSIZE
ZERO_BLOCK = bytes(BLOCK)
TAR_EXTENDED = (tarfile.XHDTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.XGLTYPE,
                tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
PAX_RECORD = re.compile(rb"(\d+) ([^=]+)=")  # as tarfile parses a pax record

EOCD = struct.Struct("<4s4H2LH")  # zip end of central directory: signature .. comment length
EOCD_SIGNATURE = b"PK\x05\x06"
ZIP64_LOCATOR = struct.Struct("<4sLQL")
ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
CD_ENTRY_SIZE = 46  # fixed part of a central directory entry; name, extra, comment lengths at 28
CD_SIGNATURE = b"PK\x01\x02"

# what a malformed archive makes the standard library raise (UploadRefused is handled first)
UNREADABLE = (*UNREADABLE_ZIP, tarfile.TarError, UnicodeDecodeError, struct.error, lzma.LZMAError)


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


def _name_version(text: str) -> tuple[str, Version]:
    meta = parse_core_metadata(text)
    if not meta.name or not meta.version:
        raise UploadRefused("the archive's metadata has no Name or Version")
    try:
        return canonicalize_name(meta.name), Version(meta.version)
    except InvalidVersion:
        raise UploadRefused(f"the archive's metadata version {meta.version!r} is not PEP 440") from None


def _inflated_limit(archive_size: int) -> int:
    """How many bytes an archive of this size may decompress to in all."""
    return MAX_TOTAL_RATIO * archive_size + TOTAL_SLACK


def _limit(n: int) -> str:
    """A cap as people write it: 16 MiB, 4 GiB."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


def _show(name: str) -> str:
    """A member name fit for a one-line message (names are attacker-chosen, up to 64 KiB)."""
    return repr(name if len(name) <= 120 else name[:120] + "...")


@contextmanager
def _readable(filename: str) -> Iterator[None]:
    """Turn whatever a malformed archive makes the standard library raise into a refusal."""
    try:
        yield
    except UploadRefused:
        raise
    except UNREADABLE as exc:
        raise UploadRefused(f"{filename!r} is not a readable archive ({type(exc).__name__})") from None


# -- wheels ----------------------------------------------------------------------------------------


def _check_central_directory(fh: BinaryIO, size: int, filename: str) -> None:
    """Refuse a central directory that is too large or lists too many entries, before zipfile
    reads it whole into memory and builds an object per entry. Finds it as zipfile does."""
    tail_start = max(size - (1 << 16) - EOCD.size, 0)
    fh.seek(tail_start)
    tail = fh.read()
    if tail[-EOCD.size:-EOCD.size + 4] == EOCD_SIGNATURE and tail.endswith(b"\0\0"):
        at = len(tail) - EOCD.size
    else:
        at = tail.rfind(EOCD_SIGNATURE)
    if at < 0 or len(tail) - at < EOCD.size:
        raise zipfile.BadZipFile("no end of central directory record")
    _sig, _disk, _cd_disk, _here, entries, cd_size, _offset, _comment = EOCD.unpack_from(tail, at)
    eocd = tail_start + at
    start = eocd - cd_size
    if eocd >= ZIP64_LOCATOR.size:
        fh.seek(eocd - ZIP64_LOCATOR.size)
        locator = fh.read(ZIP64_LOCATOR.size)
        if locator[:4] == b"PK\x06\x07":
            record_at = eocd - ZIP64_LOCATOR.size - ZIP64_EOCD.size
            if record_at < 0:
                raise zipfile.BadZipFile("truncated zip64 end of central directory")
            fh.seek(record_at)
            record = fh.read(ZIP64_EOCD.size)
            if record[:4] == b"PK\x06\x06":
                entries, cd_size = ZIP64_EOCD.unpack(record)[7:9]
                start = record_at - cd_size
    if cd_size > MAX_CENTRAL_DIRECTORY:
        raise UploadRefused(f"{filename!r}: its zip central directory is {cd_size} bytes, "
                            f"over the {_limit(MAX_CENTRAL_DIRECTORY)} limit")
    if entries > MAX_MEMBERS:
        raise UploadRefused(f"{filename!r} has {entries} members, over the limit of {MAX_MEMBERS}")
    if start < 0:
        raise zipfile.BadZipFile("bad offset for central directory")
    fh.seek(start)
    directory = fh.read(cd_size)
    # the entry count in the end record may lie: count the entries zipfile would build
    pos = count = 0
    while pos < cd_size:
        count += 1
        if count > MAX_MEMBERS:
            raise UploadRefused(f"{filename!r} has more than {MAX_MEMBERS} members")
        if directory[pos:pos + 4] != CD_SIGNATURE or len(directory) < pos + CD_ENTRY_SIZE:
            raise zipfile.BadZipFile("bad central directory entry")
        name_len, extra_len, comment_len = struct.unpack_from("<3H", directory, pos + 28)
        pos += CD_ENTRY_SIZE + name_len + extra_len + comment_len


def _check_members(infos: list[zipfile.ZipInfo], size: int, filename: str) -> None:
    """Refuse declared sizes that only a bomb has; nothing is decompressed."""
    limit = _inflated_limit(size)
    inflated = compressed = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise UploadRefused(f"{filename!r}: member {_show(info.filename)} is encrypted")
        if info.file_size > MAX_MEMBER_SIZE:
            raise UploadRefused(f"{filename!r}: member {_show(info.filename)} is {info.file_size} bytes, "
                                f"over the {_limit(MAX_MEMBER_SIZE)} limit")
        if info.file_size > RATIO_EXEMPT_SIZE and info.file_size > MAX_MEMBER_RATIO * info.compress_size:
            ratio = info.file_size / max(info.compress_size, 1)
            raise UploadRefused(f"{filename!r}: member {_show(info.filename)} inflates {ratio:.0f}x "
                                f"({info.compress_size} to {info.file_size} bytes), "
                                f"over the {MAX_MEMBER_RATIO}x limit")
        inflated += info.file_size
        compressed += info.compress_size
    if compressed > size:  # members that overlap each other: the non-recursive zip bomb
        raise UploadRefused(f"{filename!r}: its members declare {compressed} compressed bytes "
                            f"in a {size}-byte file (overlapping members)")
    if inflated > limit:
        raise UploadRefused(f"{filename!r}: its members declare {inflated} bytes uncompressed, "
                            f"over the limit of {limit} bytes for a {size}-byte archive")


def _wheel_metadata(path: Path, filename: str) -> bytes:
    with path.open("rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        _check_central_directory(fh, size, filename)
        with zipfile.ZipFile(fh) as whl:
            infos = whl.infolist()
            if len(infos) > MAX_MEMBERS:
                raise UploadRefused(f"{filename!r} has more than {MAX_MEMBERS} members")
            metas = metadata_members(i.filename for i in infos)
            if len(metas) != 1:
                raise UploadRefused(f"{filename!r} has no single .dist-info/METADATA")
            meta = whl.getinfo(metas[0])
            if meta.file_size > MAX_METADATA:
                raise UploadRefused(f"{filename!r}: its METADATA is {meta.file_size} bytes, "
                                    f"over the {_limit(MAX_METADATA)} limit")
            _check_members(infos, size, filename)
            with whl.open(meta) as member:  # reads stop at the declared size, checked by CRC
                data = member.read(MAX_METADATA + 1)
            if len(data) > MAX_METADATA:
                raise UploadRefused(f"{filename!r}: its METADATA is over the {_limit(MAX_METADATA)} limit")
            return data


def read_wheel_metadata(path: Path, filename: str) -> bytes:
    """The raw bytes of a wheel's ``*.dist-info/METADATA`` (what PEP 658 serves), read within the caps."""
    with _readable(filename):
        return _wheel_metadata(path, filename)


# -- sdists ----------------------------------------------------------------------------------------


class _Reader(Protocol):
    def read(self, n: int, /) -> bytes: ...


class _Inflated:
    """An sdist's decompressed tar stream, counted: past ``limit`` bytes it is a gzip bomb."""

    def __init__(self, raw: _Reader, limit: int, archive_size: int, filename: str) -> None:
        self.raw, self.limit, self.archive_size, self.filename = raw, limit, archive_size, filename
        self.consumed = 0

    def read(self, n: int) -> bytes:
        data = self.raw.read(n)
        self.consumed += len(data)
        if self.consumed > self.limit:
            raise UploadRefused(f"{self.filename!r} decompresses to more than {self.limit} bytes before its "
                                f"PKG-INFO, over the limit for a {self.archive_size}-byte archive")
        return data

    def exactly(self, n: int) -> bytes:
        data = self.read(n)
        if len(data) != n:
            raise UploadRefused(f"{self.filename!r} is a truncated archive")
        return data

    def skip(self, n: int) -> None:
        while n > 0:
            n -= len(self.exactly(min(n, CHUNK)))


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def _pax_records(data: bytes) -> dict[str, str]:
    """The records of a pax header, parsed as tarfile does (only path, size and sparse matter here)."""
    records: dict[str, str] = {}
    pos = 0
    while (match := PAX_RECORD.match(data, pos)) is not None:
        length = int(match.group(1))
        if length < len(match.group(0)) + 1 or pos + length > len(data):
            raise tarfile.ReadError("invalid pax record")
        key = match.group(2).decode("utf-8", "surrogateescape")
        records[key] = data[match.end():pos + length - 1].decode("utf-8", "surrogateescape")
        pos += length
    return records


def _pax_size(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        return 0  # as tarfile reads it


def _sdist_pkg_info(path: Path, filename: str) -> bytes:
    """Stream the tar inside the gzip up to the first top-level PKG-INFO, and read only that.

    Headers are parsed by tarfile; the extended ones (pax, GNU long names) are read here, within
    MAX_TAR_HEADER, because tarfile itself would hold any size of them in memory."""
    size = path.stat().st_size
    with gzip.open(path, "rb") as raw:
        stream = _Inflated(raw, _inflated_limit(size), size, filename)
        members = declared = extended = global_extended = 0
        pending: dict[str, str] = {}  # from the extended headers before the next member
        had_pax = False
        global_pax: dict[str, str] = {}
        while True:
            block = stream.read(BLOCK)
            if not block or block == ZERO_BLOCK:
                raise UploadRefused(f"{filename!r} has no top-level PKG-INFO")
            if len(block) != BLOCK:
                raise UploadRefused(f"{filename!r} is a truncated archive")
            info = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
            if info.type in TAR_EXTENDED:
                if info.type == tarfile.XGLTYPE:
                    global_extended += info.size
                else:
                    extended += info.size
                if max(extended, global_extended) > MAX_TAR_HEADER:
                    raise UploadRefused(f"{filename!r} has tar extended headers over the "
                                        f"{_limit(MAX_TAR_HEADER)} limit")
                data = stream.exactly(_padded(info.size))[:info.size]
                if info.type == tarfile.GNUTYPE_LONGNAME:
                    pending["path"] = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
                elif info.type == tarfile.XGLTYPE:
                    global_pax.update(_pax_records(data))
                elif info.type != tarfile.GNUTYPE_LONGLINK:
                    pending.update(_pax_records(data))
                    had_pax = True
                continue
            members += 1
            if members > MAX_MEMBERS:
                raise UploadRefused(f"{filename!r} has more than {MAX_MEMBERS} members")
            fields = {**global_pax, **pending}
            if info.type == tarfile.GNUTYPE_SPARSE or any(key.startswith("GNU.sparse") for key in fields):
                raise UploadRefused(f"{filename!r} has a sparse member; an sdist has none")
            name = fields["path"].rstrip("/") if "path" in fields else info.name
            # tarfile takes a pax size (even a global one) only after an extended header
            length = _pax_size(fields["size"]) if had_pax and "size" in fields else info.size
            pending, had_pax, extended = {}, False, 0
            if not (info.isreg() or info.type not in tarfile.SUPPORTED_TYPES):
                length = 0  # links, directories, devices: no data follows (as tarfile reads them)
            if length > MAX_MEMBER_SIZE:
                raise UploadRefused(f"{filename!r}: member {_show(name)} is {length} bytes, "
                                    f"over the {_limit(MAX_MEMBER_SIZE)} limit")
            if name.count("/") == 1 and name.endswith("/PKG-INFO"):
                if not info.isreg():
                    raise UploadRefused(f"{filename!r}: its PKG-INFO is not a regular file")
                if length > MAX_METADATA:
                    raise UploadRefused(f"{filename!r}: its PKG-INFO is {length} bytes, "
                                        f"over the {_limit(MAX_METADATA)} limit")
                return stream.exactly(length)
            declared += length
            if declared > stream.limit:
                raise UploadRefused(f"{filename!r}: its members declare more than {stream.limit} bytes "
                                    f"before its PKG-INFO, over the limit for a {size}-byte archive")
            stream.skip(_padded(length))


# -- both ------------------------------------------------------------------------------------------


def archive_metadata(path: Path, filename: str) -> bytes:
    """The raw METADATA of a wheel or PKG-INFO of an sdist, read within the caps above."""
    with _readable(filename):
        return _wheel_metadata(path, filename) if filename.endswith(".whl") else _sdist_pkg_info(path, filename)


def read_archive_metadata(path: Path, filename: str) -> tuple[str, Version]:
    """Name and version from the archive's own METADATA / PKG-INFO, read within the caps above."""
    with _readable(filename):
        return _name_version(archive_metadata(path, filename).decode("utf-8"))


def check_archive(path: Path, filename: str) -> bytes:
    """Refuse an archive whose file name and own metadata disagree (or that is unreadable or a bomb);
    its raw METADATA / PKG-INFO, read once, for the index to serve and to take facts from."""
    name, version = check_filename(filename)
    with _readable(filename):
        raw = archive_metadata(path, filename)
        meta_name, meta_version = _name_version(raw.decode("utf-8"))
    if (meta_name, meta_version) != (name, version):
        raise UploadRefused(
            f"{filename!r} says {name} {version} but its metadata says {meta_name} {meta_version}"
        )
    return raw
