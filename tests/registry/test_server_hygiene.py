"""The registry process itself: one server per package folder, bounded uploads, the declared
hash checked, a rehash that keeps its progress. Real server processes on loopback."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from helperhub.registry.server import recovery
from helperhub.registry.server.recovery import RECORD
from helperhub.registry.server.store import HardenedBackend
from tests.sidebyside import PASSWORD, USER, Server, make_wheel


@pytest.fixture
def server(tmp_path: Path) -> Any:
    started = Server("helperhub", tmp_path / "registry").start()
    yield started
    started.kill()


def test_second_server_on_the_same_folder_refuses_to_start(server: Server) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "helperhub.registry", "--port", "0", "--packages", str(server.packages)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert f"already serves {server.packages.resolve()}" in proc.stderr
    assert str(server.proc.pid) in proc.stderr  # names the holder
    assert requests.get(f"{server.url}/health", timeout=5).status_code == 200  # the first one is untouched


def _open_upload(server: Server, filename: str, length: int) -> http.client.HTTPConnection:
    """An authenticated upload whose body has begun arriving, and then stalls."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.putrequest("POST", "/")
    conn.putheader("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
    conn.putheader("Content-Type", "multipart/form-data; boundary=b")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    conn.send(b'--b\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
              b'--b\r\nContent-Disposition: form-data; name="content"; filename="' + filename.encode() + b'"\r\n\r\n')
    return conn


def test_uploads_beyond_the_bound_are_told_to_retry(tmp_path: Path) -> None:
    server = Server("helperhub", tmp_path / "registry", options=("--max-concurrent-uploads", "1")).start()
    try:
        held = _open_upload(server, "slowlib-1.0.0-py3-none-any.whl", 10 << 20)
        time.sleep(0.5)  # its headers are read and its slot taken (its body waits for more bytes)
        filename, data = make_wheel("quicklib", "1.0.0")
        resp = requests.post(f"{server.url}/", data={":action": "file_upload"}, files={"content": (filename, data)},
                             auth=(USER, PASSWORD), timeout=30)
        assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
        held.close()  # the client gives up: its slot is freed, its temp file dropped
        deadline = 50
        while server.upload(filename, data) == 503 and deadline:
            deadline -= 1
        assert list(server.listed("quicklib")) == [filename]
        assert not list(server.packages.glob(".upload-*"))
    finally:
        server.kill()


def test_a_declared_sha256_must_match_the_bytes(server: Server) -> None:
    filename, data = make_wheel("declared", "1.0.0")
    form = {":action": "file_upload", "sha256_digest": hashlib.sha256(b"other bytes").hexdigest()}
    resp = requests.post(f"{server.url}/", data=form, files={"content": (filename, data)},
                         auth=(USER, PASSWORD), timeout=30)
    assert resp.status_code == 400 and "sha256" in resp.reason
    form["sha256_digest"] = hashlib.sha256(data).hexdigest()
    resp = requests.post(f"{server.url}/", data=form, files={"content": (filename, data)},
                         auth=(USER, PASSWORD), timeout=30)
    assert resp.status_code == 200
    assert list(server.listed("declared")) == [filename]


def test_chunked_upload_over_the_limit_is_refused(server: Server) -> None:
    filename, _ = make_wheel("chunky", "1.0.0")

    def body() -> Any:
        yield b'--b\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
        yield b'--b\r\nContent-Disposition: form-data; name="content"; filename="' + filename.encode() + b'"\r\n\r\n'
        for _ in range(server.max_upload_mb + 2):
            yield bytes(1 << 20)

    resp = requests.post(f"{server.url}/", data=body(), auth=(USER, PASSWORD), timeout=60,
                         headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert resp.status_code == 413
    assert server.listed("chunky") == {}
    assert not list(server.packages.glob(".upload-*"))


def test_rehash_saves_its_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A large folder whose record was lost is rehashed at start; a start that is killed half-way
    (a liveness probe, a rollout) must not begin from zero again."""
    from pypiserver.config import Config

    packages = tmp_path / "packages"
    packages.mkdir()
    names = []
    for i in range(6):
        filename, data = make_wheel(f"lib{i}", "1.0.0")
        (packages / filename).write_bytes(data)
        names.append(filename)
    real, hashed = recovery.sha256_file, []

    def crash_after_three(path: Path) -> str:
        if len(hashed) == 3:
            raise KeyboardInterrupt  # the process is stopped mid-way
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(recovery, "RECORD_EVERY", 0.0)
    monkeypatch.setattr(recovery, "sha256_file", crash_after_three)
    config = Config.default_with_overrides(roots=[packages])
    with pytest.raises(KeyboardInterrupt):
        HardenedBackend(config, packages, 1 << 20)
    recorded = json.loads((packages / RECORD).read_text())
    assert set(recorded) >= set(hashed[:2]) and recorded  # progress kept
    monkeypatch.setattr(recovery, "sha256_file", real)
    backend = HardenedBackend(config, packages, 1 << 20)
    assert {n: backend.sha256_of(n) for n in names} == {
        n: hashlib.sha256((packages / n).read_bytes()).hexdigest() for n in names
    }


@pytest.mark.parametrize(("header", "expected"), [
    ("", None), ("bytes=0-9", (0, 9)), ("bytes=10-", (10, 99)), ("bytes=-30", (70, 99)), ("bytes=-300", (0, 99)),
    ("bytes=90-200", (90, 99)), ("bytes=100-", (-1, -1)), ("bytes=-0", (-1, -1)), ("bytes=0-1,5-6", None),
    ("items=0-9", None), ("bytes=9-2", None), ("bytes=a-b", None), ("bytes=-", None),
])
def test_byte_ranges_are_parsed_as_rfc_9110_says(header: str, expected: tuple[int, int] | None) -> None:
    from helperhub.registry.server.fastreads import byte_range

    assert byte_range(header, 100) == expected


def test_a_wheel_is_served_in_ranges(server: Server) -> None:
    """Installers read a wheel's METADATA from its end with a range request, not the whole file."""
    name, data = make_wheel("rangepkg", "1.0.0", payload=bytes(range(256)) * 64)
    assert server.upload(name, data) == 200
    url = f"http://127.0.0.1:{server.port}/packages/{name}"
    tail = requests.get(url, headers={"Range": "bytes=-100"}, timeout=10)
    assert tail.status_code == 206 and tail.content == data[-100:]
    assert tail.headers["Content-Range"] == f"bytes {len(data) - 100}-{len(data) - 1}/{len(data)}"
    whole = requests.get(url, timeout=10)
    assert whole.status_code == 200 and whole.content == data and whole.headers["Accept-Ranges"] == "bytes"
    past = requests.get(url, headers={"Range": f"bytes={len(data)}-"}, timeout=10)
    assert past.status_code == 416 and past.headers["Content-Range"] == f"bytes */{len(data)}"


def test_the_listen_queue_holds_an_installers_burst(server: Server) -> None:
    """uv opens dozens of connections at once; with cheroot's default queue of 5 the kernel drops
    the rest and they come back only after SYN retries (1 s, 3 s, ...). The socket's queue, as the
    kernel reports it for a listening socket (Send-Q), is the configured one."""
    from helperhub.core.defaults import SERVER_BACKLOG

    port = server.url.rsplit(":", 1)[1].rstrip("/")
    listed = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    (line,) = listed.splitlines()
    assert int(line.split()[2]) == SERVER_BACKLOG >= 128
