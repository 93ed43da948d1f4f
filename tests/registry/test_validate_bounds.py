"""Upload validation stays bounded: zip and gzip bombs, oversize metadata, member floods and broken
archives are refused quickly, at flat memory, with UploadRefused; real-looking dists still pass.

Archives are built in tmp_path; the bombs are written in chunks (or as repeated gzip members) so
the tests themselves stay at flat memory too."""

from __future__ import annotations

import gzip
import io
import os
import struct
import tarfile
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from helperhub.registry.server import validate
from helperhub.registry.server.validate import (
    MAX_METADATA,
    UploadRefused,
    check_archive,
    read_archive_metadata,
    read_wheel_metadata,
)

NAME, VERSION = "demo-pkg", "1.0.0"
WHEEL = "demo_pkg-1.0.0-py3-none-any.whl"
SDIST = "demo_pkg-1.0.0.tar.gz"
DIST_INFO = "demo_pkg-1.0.0.dist-info"
HEADER = f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\n\n".encode()
GIB = 1 << 30
MIB = 1 << 20


def refused(path: Path, filename: str, match: str | None = None) -> str:
    """The one-line refusal of an archive, which must come within 2 s and while the check
    allocates less than 64 MiB at its peak (tracemalloc): a bomb is never inflated."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        started = time.monotonic()
        with pytest.raises(UploadRefused, match=match) as caught:
            check_archive(path, filename)
        took = time.monotonic() - started
        growth = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert took < 2, f"{took:.1f} s: a refusal must not decompress the archive"
    assert growth < 64 * MIB, f"{growth} bytes allocated"
    message = str(caught.value)
    assert "\n" not in message
    print(message)  # shown with -s: what the client is told
    return message


# -- builders --------------------------------------------------------------------------------------


def write_member(whl: zipfile.ZipFile, name: str, head: bytes, size: int, fill: bytes = b"\0") -> None:
    """A member of ``size`` bytes: ``head`` then ``fill`` repeated, streamed in 1 MiB chunks."""
    chunk = fill * (MIB // len(fill))
    with whl.open(name, "w", force_zip64=size > 1 << 31) as fh:
        fh.write(head)
        left = size - len(head)
        while left > 0:
            left -= fh.write(chunk[:min(left, len(chunk))])


def make_wheel(tmp_path: Path, *, metadata_size: int = 0, members: dict[str, bytes] | None = None,
               zeros: dict[str, int] | None = None, compresslevel: int = 9,
               filename: str = WHEEL) -> Path:
    """A wheel whose METADATA is padded to ``metadata_size`` and that holds ``members`` and
    members of ``zeros[name]`` zero bytes."""
    path = tmp_path / filename
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as whl:
        whl.writestr("demo_pkg/__init__.py", "VERSION = '1.0.0'\n")
        for name, data in (members or {}).items():
            whl.writestr(name, data)
        for name, size in (zeros or {}).items():
            write_member(whl, name, b"", size)
        write_member(whl, f"{DIST_INFO}/METADATA", HEADER, max(metadata_size, len(HEADER)), b"a")
        whl.writestr(f"{DIST_INFO}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{DIST_INFO}/RECORD", "")
    return path


def directory_entries(data: bytes) -> tuple[int, list[bytes]]:
    """The central directory offset and entries of a small (non-zip64) zip."""
    eocd = data.rindex(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<2L", data, eocd + 12)
    entries, pos = [], cd_offset
    while pos < cd_offset + cd_size:
        name_len, extra_len, comment_len = struct.unpack_from("<3H", data, pos + 28)
        end = pos + 46 + name_len + extra_len + comment_len
        entries.append(data[pos:end])
        pos = end
    return cd_offset, entries


def rewrite_directory(path: Path, entries: list[bytes], declared: int | None = None) -> None:
    """Replace a zip's central directory (and its end record, declaring ``declared`` entries)."""
    data = path.read_bytes()
    cd_offset, _old = directory_entries(data)
    cd = b"".join(entries)
    count = len(entries) if declared is None else declared
    path.write_bytes(data[:cd_offset] + cd + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count,
                                                         len(cd), cd_offset, 0))


def to_zip64(path: Path, declared: int | None = None) -> None:
    """Give a small zip the zip64 end records a wheel of >65535 members or >4 GiB has."""
    data = path.read_bytes()
    cd_offset, entries = directory_entries(data)
    cd = b"".join(entries)
    count = len(entries) if declared is None else declared
    record_at = cd_offset + len(cd)
    path.write_bytes(
        data[:record_at]
        + struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count, len(cd), cd_offset)
        + struct.pack("<4sLQL", b"PK\x06\x07", 0, record_at, 1)
        + struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))


def tar_member(tar: tarfile.TarFile, name: str, data: bytes = b"", **fields: object) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if data else None)


def make_sdist(tmp_path: Path, pkg_info: bytes = HEADER, fmt: int = tarfile.PAX_FORMAT,
               before: Callable[[tarfile.TarFile], None] | None = None) -> Path:
    """An sdist with a long-named member and a symlink before its PKG-INFO, which comes last
    (as hatchling writes it)."""
    path = tmp_path / SDIST
    with tarfile.open(path, "w:gz", format=fmt) as tar:
        tar_member(tar, "demo_pkg-1.0.0", type=tarfile.DIRTYPE, mode=0o755)
        tar_member(tar, "demo_pkg-1.0.0/src/demo_pkg/__init__.py", b"VERSION = '1.0.0'\n")
        if fmt != tarfile.USTAR_FORMAT:
            tar_member(tar, "demo_pkg-1.0.0/" + "d" * 150 + "/ünïcode.py", b"x = 1\n")
        tar_member(tar, "demo_pkg-1.0.0/link", type=tarfile.SYMTYPE, linkname="src")
        if before is not None:
            before(tar)
        tar_member(tar, "demo_pkg-1.0.0/PKG-INFO", pkg_info)
    return path


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(tarfile.GNU_FORMAT)


def gzip_bomb(tmp_path: Path, first: bytes, zeros: int, tail: bytes) -> Path:
    """``first``, then ``zeros`` zero bytes, then ``tail``, as one gzip stream of many members:
    a 1 GiB run costs 1 MB of file and milliseconds to write."""
    path = tmp_path / SDIST
    zero_mib = gzip.compress(bytes(MIB), 9)
    with path.open("wb") as fh:
        fh.write(gzip.compress(first))
        for _ in range(zeros // MIB):
            fh.write(zero_mib)
        fh.write(gzip.compress(tail + bytes(2 * tarfile.BLOCKSIZE)))
    return path


@pytest.fixture(scope="module")
def metadata_bomb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A wheel of a few MB whose METADATA inflates to 1 GiB (built once for the module)."""
    path = make_wheel(tmp_path_factory.mktemp("bomb"), metadata_size=GIB, compresslevel=1)
    yield path
    path.unlink()


# -- what passes -----------------------------------------------------------------------------------


def test_valid_wheel_passes_with_its_name_and_version(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, members={"demo_pkg/data.txt": b"text " * 1000})
    assert read_archive_metadata(wheel, WHEEL) == (NAME, Version(VERSION))
    check_archive(wheel, WHEEL)
    assert read_wheel_metadata(wheel, WHEEL) == HEADER


def test_padded_library_and_metadata_at_the_cap_pass(tmp_path: Path) -> None:
    """Real wheels hold small libraries padded to 2 MiB alignment (pillow's inflate 224x)."""
    wheel = make_wheel(tmp_path, metadata_size=MAX_METADATA, zeros={"demo_pkg.libs/libpadded.so": 2 * MIB})
    check_archive(wheel, WHEEL)
    assert len(read_wheel_metadata(wheel, WHEEL)) == MAX_METADATA


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT],
                         ids=["pax", "gnu", "ustar"])
def test_valid_sdist_passes_with_its_name_and_version(tmp_path: Path, fmt: int) -> None:
    sdist = make_sdist(tmp_path, fmt=fmt)
    assert read_archive_metadata(sdist, SDIST) == (NAME, Version(VERSION))
    check_archive(sdist, SDIST)


def test_sdist_pkg_info_named_by_a_pax_header_is_found(tmp_path: Path) -> None:
    def renamed(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("placeholder")
        info.size = len(HEADER)
        info.pax_headers = {"path": "demo_pkg-1.0.0/PKG-INFO"}
        tar.addfile(info, io.BytesIO(HEADER))

    sdist = make_sdist(tmp_path, pkg_info=HEADER.replace(b"1.0.0", b"9.9.9"), before=renamed)
    check_archive(sdist, SDIST)  # the first top-level PKG-INFO, as tarfile names it, is the one read


def test_metadata_that_disagrees_with_the_file_name_is_refused(tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path, pkg_info=HEADER.replace(b"1.0.0", b"2.0.0"))
    assert "2.0.0" in refused(sdist, SDIST, "metadata says")


# -- wheel bombs -----------------------------------------------------------------------------------


def test_metadata_bomb_is_refused_fast_at_flat_memory(metadata_bomb: Path) -> None:
    assert metadata_bomb.stat().st_size < 8 * MIB  # 1 GiB of METADATA in a few MB
    message = refused(metadata_bomb, WHEEL)  # in < 2 s, < 64 MiB of peak allocations
    assert message == f"{WHEEL!r}: its METADATA is {GIB} bytes, over the 16 MiB limit"
    with pytest.raises(UploadRefused, match="METADATA"):
        read_wheel_metadata(metadata_bomb, WHEEL)


def test_metadata_just_over_the_cap_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, metadata_size=MAX_METADATA + 1)
    assert refused(wheel, WHEEL) == f"{WHEEL!r}: its METADATA is {MAX_METADATA + 1} bytes, over the 16 MiB limit"


def test_member_bomb_is_refused_by_its_ratio(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, zeros={"demo_pkg/weights.bin": 64 * MIB})
    assert "'demo_pkg/weights.bin' inflates" in refused(wheel, WHEEL, "over the 200x limit")


def test_many_small_zero_members_are_refused_by_the_total(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, zeros={f"demo_pkg/pad{i}.bin": 2 * MIB for i in range(50)})
    refused(wheel, WHEEL, "bytes uncompressed, over the limit")


def test_member_declared_over_the_size_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_MEMBER_SIZE", MIB)
    wheel = make_wheel(tmp_path, members={"demo_pkg/blob.bin": os.urandom(MIB + 1)})
    refused(wheel, WHEEL, "'demo_pkg/blob.bin' is 1048577 bytes")


def test_overlapping_members_are_refused(tmp_path: Path) -> None:
    """The non-recursive zip bomb: many directory entries share one compressed stream."""
    wheel = make_wheel(tmp_path, members={"demo_pkg/blob.bin": os.urandom(256 << 10)})
    _offset, entries = directory_entries(wheel.read_bytes())
    blob = next(e for e in entries if b"blob.bin" in e)
    rewrite_directory(wheel, entries + [blob] * 8)
    refused(wheel, WHEEL, "overlapping members")


def test_too_many_members_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_MEMBERS", 20)
    wheel = make_wheel(tmp_path, members={f"demo_pkg/m{i}.py": b"" for i in range(30)})
    refused(wheel, WHEEL, "has 34 members, over the limit of 20")
    _offset, entries = directory_entries(wheel.read_bytes())
    rewrite_directory(wheel, entries, declared=1)  # an end record that lies is not believed
    refused(wheel, WHEEL, "has more than 20 members")


def test_zip64_end_records_are_read(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    to_zip64(wheel)
    assert b"PK\x06\x06" in wheel.read_bytes()
    check_archive(wheel, WHEEL)
    to_zip64(make_wheel(tmp_path), declared=10**9)
    refused(wheel, WHEEL, "has 1000000000 members, over the limit of 100000")


def test_central_directory_over_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_CENTRAL_DIRECTORY", 1024)
    wheel = make_wheel(tmp_path, members={f"demo_pkg/{'n' * 40}{i}.py": b"" for i in range(30)})
    refused(wheel, WHEEL, "central directory is")


def corrupt_wheels(tmp_path: Path) -> dict[str, bytes]:
    good = make_wheel(tmp_path, members={"demo_pkg/data.txt": b"text " * 1000}).read_bytes()
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w") as whl:
        whl.writestr(f"{DIST_INFO}/METADATA", HEADER)
    at = stored.getvalue().index(b"Name: ")
    bad_crc = stored.getvalue()[:at] + b"Nbme: " + stored.getvalue()[at + 6:]
    offset, entries = directory_entries(good)
    encrypted = b"".join(e[:8] + struct.pack("<H", struct.unpack_from("<H", e, 8)[0] | 1) + e[10:]
                         for e in entries)
    return {
        "empty": b"",
        "garbage": b"PK\x03\x04 this is not a zip archive" * 100,
        "truncated-half": good[:len(good) // 2],
        "truncated-last-byte": good[:-1],
        "bad-crc": bad_crc,
        "encrypted": good[:offset] + encrypted + good[offset + len(encrypted):],
        "directory-past-the-start": good[offset:],
    }


@pytest.mark.parametrize("case", ["empty", "garbage", "truncated-half", "truncated-last-byte", "bad-crc",
                                  "encrypted", "directory-past-the-start"])
def test_corrupt_wheels_are_refused_with_upload_refused(tmp_path: Path, case: str) -> None:
    wheel = tmp_path / WHEEL
    wheel.write_bytes(corrupt_wheels(tmp_path)[case])
    refused(wheel, WHEEL)


# -- sdist bombs -----------------------------------------------------------------------------------


def test_tar_gz_bomb_before_pkg_info_is_refused_fast_at_flat_memory(tmp_path: Path) -> None:
    pkg_info = header("demo_pkg-1.0.0/PKG-INFO", len(HEADER)) + HEADER.ljust(tarfile.BLOCKSIZE, b"\0")
    sdist = gzip_bomb(tmp_path, header("demo_pkg-1.0.0/zeros.bin", GIB), GIB, pkg_info)
    assert sdist.stat().st_size < 2 * MIB
    refused(sdist, SDIST, "'demo_pkg-1.0.0/zeros.bin' is|members declare more than")


def test_tar_gz_bomb_that_hides_its_size_is_refused_by_the_inflated_count(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Members of 0 declared bytes cost nothing in declared sizes, but their headers are
    decompressed too: every byte read is counted."""
    monkeypatch.setattr(validate, "MAX_TOTAL_RATIO", 2)
    monkeypatch.setattr(validate, "TOTAL_SLACK", 0)
    empty = b"".join(header(f"demo_pkg-1.0.0/e{i}", 0) for i in range(2000))
    sdist = tmp_path / SDIST
    sdist.write_bytes(gzip.compress(empty + header("demo_pkg-1.0.0/PKG-INFO", len(HEADER))
                                    + HEADER.ljust(tarfile.BLOCKSIZE, b"\0") + bytes(1024)))
    assert 2 * sdist.stat().st_size < len(empty)
    refused(sdist, SDIST, "decompresses to more than")


def test_gzip_bomb_that_is_no_tar_is_refused_fast(tmp_path: Path) -> None:
    sdist = gzip_bomb(tmp_path, b"", GIB, b"")
    refused(sdist, SDIST, "no top-level PKG-INFO")
    sdist.write_bytes(gzip.compress(b"a" * (4 * MIB)))
    refused(sdist, SDIST, "not a readable archive")


def test_huge_pkg_info_is_refused_without_reading_it(tmp_path: Path) -> None:
    sdist = gzip_bomb(tmp_path, header("demo_pkg-1.0.0/PKG-INFO", GIB) + HEADER, GIB, b"")
    assert refused(sdist, SDIST) == f"{SDIST!r}: its PKG-INFO is {GIB} bytes, over the 16 MiB limit"


def test_pkg_info_just_over_the_cap_is_refused(tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path, pkg_info=HEADER.ljust(MAX_METADATA + 1, b"a"))
    refused(sdist, SDIST, f"its PKG-INFO is {MAX_METADATA + 1} bytes")


def test_pax_header_bomb_is_refused(tmp_path: Path) -> None:
    """tarfile would read a pax header of any size into memory at once."""
    sdist = gzip_bomb(tmp_path, header("././@PaxHeader", GIB, tarfile.XHDTYPE), GIB, b"")
    refused(sdist, SDIST, "extended headers over the 1 MiB limit")


def test_too_many_sdist_members_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate, "MAX_MEMBERS", 20)

    def many(tar: tarfile.TarFile) -> None:
        for i in range(30):
            tar_member(tar, f"demo_pkg-1.0.0/m{i}.py", b"x = 1\n")

    refused(make_sdist(tmp_path, before=many), SDIST, "has more than 20 members")


def test_sparse_and_linked_pkg_info_are_refused(tmp_path: Path) -> None:
    def sparse(tar: tarfile.TarFile) -> None:
        tar_member(tar, "demo_pkg-1.0.0/holes.bin", type=tarfile.GNUTYPE_SPARSE)

    refused(make_sdist(tmp_path, before=sparse, fmt=tarfile.GNU_FORMAT), SDIST, "sparse member")
    path = tmp_path / SDIST
    with tarfile.open(path, "w:gz") as tar:
        tar_member(tar, "demo_pkg-1.0.0/PKG-INFO", type=tarfile.SYMTYPE, linkname="/etc/passwd")
    refused(path, SDIST, "PKG-INFO is not a regular file")


@pytest.mark.parametrize("case", ["empty", "not-gzip", "truncated-gzip", "truncated-tar", "bad-checksum"])
def test_corrupt_sdists_are_refused_with_upload_refused(tmp_path: Path, case: str) -> None:
    good = make_sdist(tmp_path).read_bytes()
    plain = gzip.decompress(good)
    data = {
        "empty": b"",
        "not-gzip": b"this is not gzip" * 100,
        "truncated-gzip": good[:len(good) // 2],
        "truncated-tar": gzip.compress(plain[:tarfile.BLOCKSIZE + 100]),
        "bad-checksum": gzip.compress(b"x" + plain[1:]),
    }[case]
    sdist = tmp_path / SDIST
    sdist.write_bytes(data)
    refused(sdist, SDIST)
