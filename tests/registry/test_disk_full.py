"""A full package volume is an answer, not a traceback: a real registry on a small real volume
(a 40 MiB tmpfs, or a loop-mounted ext4 image where tmpfs cannot be mounted) answers 507 with one
line saying how much room there is, refuses from its headers what cannot fit beside the uploads in
flight, leaves nothing behind, and takes the next upload that fits."""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from helperhub.core.errors import RegistryError
from helperhub.registry.client import IndexSettings
from helperhub.registry.server.room import Room, human
from helperhub.release.publish import publish
from tests.conftest import missing
from tests.sidebyside import PASSWORD, USER, Server, make_wheel, write_wheel

VOLUME_MB = 40
LINE = re.compile(r"the package volume has [\d.]+ (MB|kB|GB) free.*; free space or grow the volume")


def _mount(target: Path, scratch: Path) -> None:
    """A VOLUME_MB volume at ``target``: tmpfs, else an ext4 image on a loop device."""
    tmpfs = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={VOLUME_MB}m", "tmpfs", str(target)],
                           capture_output=True, text=True)
    if tmpfs.returncode == 0:
        return
    image = scratch / "volume.img"
    with image.open("wb") as fh:
        fh.truncate(VOLUME_MB << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True, capture_output=True)
    loop = subprocess.run(["mount", "-o", "loop", str(image), str(target)], capture_output=True, text=True)
    if loop.returncode != 0:
        missing(f"cannot mount a small volume (tmpfs: {tmpfs.stderr.strip()}; loop: {loop.stderr.strip()})",
                "run the tests as root on a machine that may mount tmpfs or loop devices")


@pytest.fixture
def small_volume(tmp_path: Path) -> Iterator[Path]:
    """The package folder of a registry, a small volume of its own, unmounted afterwards."""
    if os.geteuid() != 0:
        missing("mounting a small volume needs root", "run the tests as root, as CI does")
    packages = tmp_path / "server" / "packages"
    packages.mkdir(parents=True)
    _mount(packages, tmp_path)
    try:
        yield packages
    finally:
        if subprocess.run(["umount", str(packages)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(packages)], check=True)


@pytest.fixture
def server(small_volume: Path) -> Iterator[Server]:
    running = Server("helperhub", small_volume.parent, max_upload_mb=256).start()
    yield running
    running.kill()


def leftovers(packages: Path) -> list[str]:
    """Temp files of unfinished writes anywhere in the package folder."""
    return sorted(str(p.relative_to(packages)) for p in packages.rglob("*")
                  if p.name.startswith(".upload-") or p.name.endswith((".part", ".tmp")))


class RawUpload:
    """A twine-like upload (multipart form with Content-Length) whose body is sent when the test
    says, so a test can hold it half-way or send headers alone."""

    BOUNDARY = "helperhubdiskfullboundary"

    def __init__(self, url: str, wheel: Path) -> None:
        self.wheel = wheel
        self.head = "".join(
            f'--{self.BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in ((":action", "file_upload"), ("protocol_version", "1"))
        ).encode() + (f'--{self.BOUNDARY}\r\nContent-Disposition: form-data; name="content"; '
                      f'filename="{wheel.name}"\r\nContent-Type: application/octet-stream\r\n\r\n').encode()
        self.tail = f"\r\n--{self.BOUNDARY}--\r\n".encode()
        self.length = len(self.head) + wheel.stat().st_size + len(self.tail)
        port = int(url.rsplit(":", 1)[1])
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.fh = wheel.open("rb")

    def send_headers(self) -> None:
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.sock.sendall(
            f"POST / HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {auth}\r\nContent-Length: {self.length}\r\n"
            f"Content-Type: multipart/form-data; boundary={self.BOUNDARY}\r\n\r\n".encode() + self.head)

    def send(self, size: int | None = None) -> None:
        """``size`` more bytes of the file (all that is left for None), then the form's end."""
        left = size
        while left is None or left > 0:
            chunk = self.fh.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                self.sock.sendall(self.tail)
                return
            self.sock.sendall(chunk)
            if left is not None:
                left -= len(chunk)

    def answer(self, timeout: float = 60) -> tuple[int, str]:
        """The status and body of the answer (read until the server closes or the body is whole)."""
        self.sock.settimeout(timeout)
        data = b""
        with contextlib.suppress(TimeoutError, ConnectionResetError):
            while chunk := self.sock.recv(65536):
                data += chunk
                head, _, body = data.partition(b"\r\n\r\n")
                length = re.search(rb"content-length: (\d+)", head.lower())
                if length and len(body) >= int(length[1]):
                    break
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 "), data[:200]
        return int(head.split()[1]), body.decode(errors="replace")

    def close(self) -> None:
        self.fh.close()
        self.sock.close()


def wait_for(condition: Callable[[], object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the registry did not start storing the upload"
        time.sleep(0.05)


def fill(path: Path) -> None:
    """Write ``path`` until the volume is full."""
    with path.open("wb") as fh:
        block = bytes(1 << 20)
        try:
            while True:
                fh.write(block)
                fh.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc


def state(server: Server) -> tuple[str, str]:
    """What clients see (the root page) and what the index serves from (the record)."""
    listing = requests.get(f"{server.url}/simple/", timeout=10).text
    record = server.packages / ".helperhub-sha256.json"  # none until the first file lands
    return listing, record.read_text() if record.exists() else ""


def test_an_upload_larger_than_the_volume_gets_507_with_the_room_and_leaves_nothing(
        server: Server, tmp_path: Path) -> None:
    big = write_wheel(tmp_path, "biglib", "1.0.0", blob=60 << 20)
    before = state(server)
    upload = RawUpload(server.url, big)
    try:
        upload.send_headers()  # refused from its headers: no byte of the file is sent
        status, body = upload.answer(timeout=10)
    finally:
        upload.close()
    assert status == 507, body
    assert LINE.search(body) and body.count("\n") == 1, body
    assert "this upload needs 62.9 MB" in body, body
    assert leftovers(server.packages) == [] and state(server) == before
    assert server.listed("biglib") == {}
    assert server.upload(*make_wheel("smalllib", "1.0.0")) == 200
    assert list(server.listed("smalllib")) == ["smalllib-1.0.0-py3-none-any.whl"]


def test_a_volume_that_fills_during_the_upload_gets_507_and_nothing_is_left(server: Server, tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "filledlib", "1.0.0", blob=16 << 20)
    before = state(server)
    upload = RawUpload(server.url, wheel)
    try:
        upload.send_headers()
        upload.send(4 << 20)  # accepted: the declared size fit
        wait_for(lambda: leftovers(server.packages))
        fill(server.packages / ".another-writer")  # ... and then someone else filled the volume
        upload.send()
        status, body = upload.answer()
    finally:
        upload.close()
        (server.packages / ".another-writer").unlink(missing_ok=True)
    assert status == 507, body
    assert LINE.search(body), body
    assert leftovers(server.packages) == [] and state(server) == before
    assert server.listed("filledlib") == {}
    assert server.upload(*make_wheel("smalllib", "1.0.0")) == 200


def test_a_chunked_upload_that_outgrows_the_volume_gets_507(server: Server, tmp_path: Path) -> None:
    wheel = write_wheel(tmp_path, "chunkedlib", "1.0.0", blob=60 << 20)
    files = {"content": (wheel.name, wheel.open("rb"), "application/octet-stream")}
    prepared = requests.Request("POST", f"{server.url}/", auth=(USER, PASSWORD), files=files,
                                data={":action": "file_upload", "protocol_version": "1"}).prepare()
    body = prepared.body
    assert isinstance(body, bytes)
    prepared.headers.pop("Content-Length")
    prepared.body = (body[i:i + (1 << 20)] for i in range(0, len(body), 1 << 20))  # no declared size
    prepared.headers["Transfer-Encoding"] = "chunked"
    resp = requests.Session().send(prepared, timeout=120)
    assert resp.status_code == 507 and LINE.search(resp.text), (resp.status_code, resp.text)
    assert leftovers(server.packages) == []
    assert server.listed("chunkedlib") == {}
    assert server.upload(*make_wheel("smalllib", "1.0.0")) == 200


def test_two_uploads_that_fit_alone_but_not_together(server: Server, tmp_path: Path) -> None:
    """The second is refused from its headers, before a byte of its body, naming what the first holds."""
    first = RawUpload(server.url, write_wheel(tmp_path, "firstlib", "1.0.0", blob=20 << 20))
    second = RawUpload(server.url, write_wheel(tmp_path, "secondlib", "1.0.0", blob=20 << 20))
    try:
        first.send_headers()
        first.send(1 << 20)
        wait_for(lambda: leftovers(server.packages))  # the first is admitted, holds its room, is stored
        second.send_headers()
        started = time.monotonic()
        status, body = second.answer(timeout=10)
        assert status == 507 and time.monotonic() - started < 5, body
        assert LINE.search(body) and "held for uploads in progress" in body, body
        first.send()
        assert first.answer()[0] == 200
    finally:
        first.close()
        second.close()
    assert list(server.listed("firstlib")) == ["firstlib-1.0.0-py3-none-any.whl"]
    assert server.listed("secondlib") == {} and leftovers(server.packages) == []


def test_a_release_shows_the_line(server: Server, tmp_path: Path) -> None:
    """twine, as the release runs it, prints the registry's line; the release stops with it."""
    big = write_wheel(tmp_path, "releasedlib", "1.0.0", blob=60 << 20)
    with pytest.raises(RegistryError) as raised:
        publish(IndexSettings(server.url, USER, PASSWORD), [big])
    assert LINE.search(str(raised.value)), raised.value
    assert "no room" in str(raised.value)
    assert server.listed("releasedlib") == {} and leftovers(server.packages) == []


# -- the ledger alone ----------------------------------------------------------------------------

def test_the_ledger_holds_until_released_and_counts_what_arrived(tmp_path: Path) -> None:
    room = Room(tmp_path)
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(Exception, match="free space or grow the volume"):
        room.reserve(free + (1 << 30))
    hold = room.reserve(free // 2)
    assert room.held == free // 2
    hold.arrived = free // 4  # on the volume now: the free space says so, the ledger no longer holds it
    assert room.held == free // 2 - free // 4
    room.release(hold)
    assert room.held == 0
    assert room.reserve(-1).size == 0  # a body of unknown length holds nothing


def test_sizes_read_as_people_read_them() -> None:
    assert human(38_200_000) == "38.2 MB"
    assert human(2 * 10**9) == "2.0 GB"
    assert human(512) == "512 bytes"
