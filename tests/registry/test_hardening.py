"""The same attacks against stock pypiserver and the project's registry, side by side.

Where stock pypiserver is known to lose or mix bytes, its case is an expected failure with
``strict=True``: if stock ever stops failing, the suite says so, and the comparison stays honest.
A race stock loses in most runs, not all, is the one non-strict case.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.sidebyside import KINDS, PASSWORD, USER, Server, make_wheel, peak_rss_mb, stream_upload, write_wheel

pytestmark = [pytest.mark.sidebyside, pytest.mark.slow]


def stock_fails(reason: str, *, strict: bool = True) -> list[object]:
    """Stock's case is an expected failure; ``strict=False`` only where stock loses a race, not every time."""
    return [pytest.param("stock", marks=pytest.mark.xfail(strict=strict, reason=reason)), "helperhub"]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[Server]]:
    started: list[Server] = []

    def make(kind: str, **kw: object) -> Server:
        server = Server(kind, tmp_path / kind, **kw).start()  # type: ignore[arg-type]
        started.append(server)
        return server

    yield make  # type: ignore[misc]
    for server in started:
        server.kill()


def assert_listing_is_true(server: Server, project: str, originals: dict[str, bytes]) -> None:
    """Every listed file's link hash equals the served bytes and the bytes that were uploaded."""
    for filename, link_sha in server.listed(project).items():
        served = server.served_sha(filename)
        assert link_sha == served, f"{filename}: link says {link_sha}, served {served}"
        assert served == hashlib.sha256(originals[filename]).hexdigest(), f"{filename} is not what was uploaded"


@pytest.mark.parametrize("kind", stock_fails("stock writes the upload straight to its final name"))
def test_sigkill_mid_upload_then_restart(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind, max_upload_mb=512)
    filename, data = make_wheel("bigpkg", "1.0.0", payload=os.urandom(160 << 20))
    final = server.packages / filename
    sender = threading.Thread(target=lambda: _quiet(server.upload, filename, data), daemon=True)
    sender.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # kill while the bytes are being written
        partial = final.exists() and final.stat().st_size < len(data)
        temp = any(p.name.startswith(".upload-") for p in server.packages.iterdir())
        if partial or temp:
            break
        time.sleep(0.0005)
    else:
        pytest.fail("the upload never reached the package folder")
    server.kill()
    sender.join(timeout=30)
    server.start()
    assert_listing_is_true(server, "bigpkg", {filename: data})
    # and the name is not blocked by a half-written file: the full upload goes through now
    if filename not in server.listed("bigpkg"):
        assert server.upload(filename, data) == 200
        assert_listing_is_true(server, "bigpkg", {filename: data})


@pytest.mark.parametrize("kind", KINDS)
def test_client_abort_mid_upload_leaves_nothing(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    filename, data = make_wheel("abortpkg", "1.0.0", payload=os.urandom(8 << 20))
    boundary = "XxBoundaryxX"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{filename}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    body = head + data + tail
    import base64

    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall((f"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\n"
                      f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                      f"Content-Length: {len(body)}\r\n\r\n").encode())
        sock.sendall(body[: len(body) // 2])
    time.sleep(0.5)
    assert server.listed("abortpkg") == {}
    assert [p.name for p in server.packages.iterdir() if not p.name.startswith(".")] == []
    assert server.upload(filename, data) == 200
    assert_listing_is_true(server, "abortpkg", {filename: data})


TRIALS = 8  # the first trial in which stock doubles or mixes a name ends its case


@pytest.mark.parametrize(
    "kind", stock_fails("stock checks existence and writes without a lock; it loses most runs", strict=False)
)
def test_concurrent_uploads_of_one_name(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    # a registry with thousands of files, as real ones have: stock's existence check walks them all
    server = server_factory(kind, prefill=3000)
    winners: dict[str, bytes] = {}
    for trial in range(TRIALS):
        version = f"1.0.{trial}"
        variants = [make_wheel("racepkg", version, payload=os.urandom(16 << 20)) for _ in range(2)]
        codes: list[int] = [0, 0]
        barrier = threading.Barrier(2)

        def send(i: int, name: str, data: bytes, barrier: threading.Barrier, codes: list[int]) -> None:
            barrier.wait()
            codes[i] = server.upload(name, data)

        threads = [threading.Thread(target=send, args=(i, *variants[i], barrier, codes)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert sorted(codes)[0] == 200 and sorted(codes)[1] in (400, 409), f"trial {trial}: {codes}"
        winner = variants[codes.index(200)]
        assert server.served_sha(winner[0]) == hashlib.sha256(winner[1]).hexdigest(), f"trial {trial}: mixed"
        winners[winner[0]] = winner[1]
        assert_listing_is_true(server, "racepkg", winners)


@pytest.mark.parametrize("kind", KINDS)
def test_restart_keeps_everything(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    files = dict(make_wheel("keeppkg", f"2.0.{i}", payload=os.urandom(1 << 16)) for i in range(3))
    for name, data in files.items():
        assert server.upload(name, data) == 200
    before = server.listed("keeppkg")
    server.stop()
    server.start()
    assert server.listed("keeppkg") == before and len(before) == 3
    assert_listing_is_true(server, "keeppkg", files)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("who", ["anonymous", "wrong", "right"])
@pytest.mark.parametrize("action", ["list", "download", "upload"])
def test_auth_matrix(server_factory, kind: str, who: str, action: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    seed_name, seed = make_wheel("authpkg", "1.0.0")
    assert server.upload(seed_name, seed) == 200
    auth = {"anonymous": None, "wrong": (USER, "nope"), "right": (USER, PASSWORD)}[who]
    if action == "upload":
        name, data = make_wheel("authpkg", "1.0.1")
        code = server.upload(name, data, auth=auth)
        assert (code == 200) == (who == "right"), code
        assert (name in server.listed("authpkg")) == (who == "right")
    else:
        path = "/simple/authpkg/" if action == "list" else f"/packages/{seed_name}"
        resp = requests.get(f"{server.url}{path}", auth=auth, timeout=10)
        assert resp.status_code == 200  # reads are anonymous by default


BAD = {
    "corrupt-zip": ("badzip-1.0.0-py3-none-any.whl", b"PK\x03\x04 this is not a zip archive" * 100),
    "metadata-mismatch": make_wheel("mismatch", "1.0.0", meta_name="other-project"),
    "version-mismatch": make_wheel("vmismatch", "1.0.0", meta_version="9.9.9"),
    "invalid-version": ("badver-notaversion-py3-none-any.whl", make_wheel("badver", "1.0.0")[1]),
    "traversal": ("../escape-1.0.0-py3-none-any.whl", make_wheel("escape", "1.0.0")[1]),
    "control-char": ("ctrl\x01-1.0.0-py3-none-any.whl", make_wheel("ctrl", "1.0.0")[1]),
    "non-normalised-name": ("Caps.Name-1.0.0-py3-none-any.whl", make_wheel("caps-name", "1.0.0")[1]),
}


STOCK_REFUSES = {"control-char", "invalid-version", "traversal"}  # stock checks file names, not contents


def bad_cases() -> list[object]:
    cases: list[object] = []
    for case in sorted(BAD):
        cases.append(pytest.param("helperhub", case, id=f"helperhub-{case}"))
        marks = () if case in STOCK_REFUSES else pytest.mark.xfail(
            strict=True, reason="stock stores any bytes under a dist-like name")
        cases.append(pytest.param("stock", case, marks=marks, id=f"stock-{case}"))
    return cases


@pytest.mark.parametrize(("kind", "case"), bad_cases())
def test_bad_uploads_are_refused_and_leave_nothing(server_factory, kind: str, case: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    filename, data = BAD[case]
    code = server.upload(filename, data)
    assert 400 <= code < 500, code
    left = [str(p.relative_to(server.packages)) for p in server.packages.rglob("*")
            if not any(part.startswith(".") for part in p.relative_to(server.packages).parts)]
    assert left == [], left
    assert not (server.tmp / "escape-1.0.0-py3-none-any.whl").exists()


@pytest.mark.parametrize("kind", stock_fails("stock has no upload size limit"))
def test_oversize_upload_is_refused(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind, max_upload_mb=1)
    filename, data = make_wheel("hugepkg", "1.0.0", payload=os.urandom(3 << 20))
    assert server.upload(filename, data) == 413
    assert [p.name for p in server.packages.iterdir() if not p.name.startswith(".")] == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_link_hash_matches_the_served_bytes(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    files = dict(make_wheel("hashpkg", f"3.0.{i}", payload=os.urandom(1 << 18)) for i in range(4))
    for name, data in files.items():
        assert server.upload(name, data) == 200
    assert len(server.listed("hashpkg")) == 4
    assert_listing_is_true(server, "hashpkg", files)


def _quiet(fn, *args: object) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(requests.RequestException):
        fn(*args)


# -- uploads that cannot hurt the registry, and pins that cannot be shadowed -----------------------


@pytest.mark.parametrize("kind", stock_fails("stock accepts a build-tagged twin of a released wheel"))
def test_build_tagged_twin_is_refused(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    filename, data = make_wheel("twinlib", "1.0.0")
    assert server.upload(filename, data) == 200
    _name, twin = make_wheel("twinlib", "1.0.0", payload=b"other code")
    twin_name = filename.replace("-1.0.0-", "-1.0.0-1-")  # same name and version, build tag 1
    assert server.upload(twin_name, twin) == 409
    assert list(server.listed("twinlib")) == [filename]
    assert not (server.packages / twin_name).exists()


@pytest.mark.parametrize("kind", KINDS)
def test_new_platform_wheel_of_a_released_version_is_accepted(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    linux, data = make_wheel("platlib", "1.0.0")
    linux = linux.replace("py3-none-any", "cp311-cp311-manylinux_2_17_x86_64")
    mac = linux.replace("manylinux_2_17_x86_64", "macosx_11_0_arm64")
    assert server.upload(linux, data) == 200
    assert server.upload(mac, data) == 200
    assert sorted(server.listed("platlib")) == sorted([linux, mac])


@pytest.mark.parametrize("kind", stock_fails("stock decompresses nothing and stores the bomb"))
def test_metadata_bomb_is_refused_quickly_at_flat_memory(server_factory, kind: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    bomb = write_wheel(tmp_path, "bomb", "1.0.0", metadata_padding=1 << 30, compression=zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 8 << 20  # a small upload ...
    before = peak_rss_mb(server.proc.pid)
    started = time.monotonic()
    status = stream_upload(server.url, bomb)
    took = time.monotonic() - started
    assert status == 400 and took < 10, (status, took)  # ... refused within seconds
    assert peak_rss_mb(server.proc.pid) - before < 64  # ... without inflating it
    assert server.listed("bomb") == {}


@pytest.mark.parametrize("kind", stock_fails("stock's server reads the whole body before the login is checked"))
def test_unauthenticated_headers_only_upload_is_answered_at_once(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")  # ... and no body
        answer = b""
        with contextlib.suppress(TimeoutError):
            while chunk := sock.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 401"), answer[:80]
    assert b"connection: close" in answer.lower()  # closed at once: no byte of the body is awaited


# -- the modern index protocol, and teams that own their names -----------------------------------

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
PIP_ACCEPT = f"{SIMPLE_JSON}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"  # pip's


def _wheel_metadata(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as whl:
        return whl.read(next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA")))


@pytest.mark.parametrize("kind", stock_fails("stock serves HTML pages only"))
def test_json_api(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    filename, data = make_wheel("jsonlib", "1.0.0")
    assert server.upload(filename, data) == 200
    resp = requests.get(f"{server.url}/simple/jsonlib/", headers={"Accept": PIP_ACCEPT}, timeout=10)
    assert resp.headers["Content-Type"] == SIMPLE_JSON and "Accept" in resp.headers.get("Vary", "")
    page = resp.json()
    assert page["name"] == "jsonlib" and page["versions"] == ["1.0.0"]
    assert [(f["filename"], f["hashes"]["sha256"]) for f in page["files"]] == [
        (filename, hashlib.sha256(data).hexdigest())]


@pytest.mark.parametrize("kind", stock_fails("stock serves no PEP 658 metadata files"))
def test_metadata_files(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    filename, data = make_wheel("metalib", "1.0.0")
    assert server.upload(filename, data) == 200
    metadata = _wheel_metadata(data)
    page = requests.get(f"{server.url}/simple/metalib/", timeout=10).text
    assert f'data-core-metadata="sha256={hashlib.sha256(metadata).hexdigest()}"' in page
    served = requests.get(f"{server.url}/packages/{filename}.metadata", timeout=10)
    assert served.status_code == 200 and served.content == metadata


@pytest.mark.parametrize("kind", stock_fails("stock records no upload time (PEP 700)"))
def test_upload_time(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    server = server_factory(kind)
    filename, data = make_wheel("timelib", "1.0.0")
    before = datetime.now(UTC)
    assert server.upload(filename, data) == 200
    after = datetime.now(UTC)
    resp = requests.get(f"{server.url}/simple/timelib/", headers={"Accept": PIP_ACCEPT}, timeout=10)
    assert resp.headers["Content-Type"] == SIMPLE_JSON
    stamp = resp.json()["files"][0]["upload-time"]
    assert before <= datetime.fromisoformat(stamp) <= after


@pytest.mark.parametrize("kind", stock_fails("stock cannot yank a version (PEP 592)"))
def test_yanking(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind)
    for version in ("1.0.0", "1.1.0"):
        assert server.upload(*make_wheel("yanklib", version)) == 200
    form = {":action": (None, "yank"), "name": (None, "yanklib"), "version": (None, "1.1.0"), "reason": (None, "bad")}
    resp = requests.post(f"{server.url}/", files=form, auth=(USER, PASSWORD), timeout=30)
    assert resp.status_code == 200, resp.text
    page = requests.get(f"{server.url}/simple/yanklib/", timeout=10).text
    assert 'yanklib-1.1.0-py3-none-any.whl</a>' in page and 'data-yanked="bad"' in page
    assert page.count("data-yanked") == 1


@pytest.mark.parametrize("kind", stock_fails("every login may upload to every project of stock"))
def test_per_project_ownership(server_factory, kind: str) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind, users=(("alice", "alice-pw"), ("bob", "bob-pw")))
    assert server.upload(*make_wheel("teamlib", "1.0.0"), auth=("alice", "alice-pw")) == 200
    before = sorted(p.name for p in server.packages.iterdir() if not p.name.startswith("."))
    assert server.upload(*make_wheel("teamlib", "1.0.1"), auth=("bob", "bob-pw")) == 403
    assert sorted(p.name for p in server.packages.iterdir() if not p.name.startswith(".")) == before
    assert server.upload(*make_wheel("teamlib", "1.0.1"), auth=("alice", "alice-pw")) == 200


@pytest.mark.slow
@pytest.mark.parametrize("kind", stock_fails("stock's server caps every body at 1 GiB (waitress)"))
def test_upload_above_one_gib_under_the_limit_is_stored(server_factory, kind: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    server = server_factory(kind, max_upload_mb=4096)
    big = write_wheel(tmp_path, "biglib", "1.0.0", blob=1536 << 20)  # 1.5 GiB, stored
    try:
        assert stream_upload(server.url, big) == 200
        assert list(server.listed("biglib")) == [big.name]
        assert (server.packages / big.name).stat().st_size == big.stat().st_size
    finally:
        big.unlink()
        (server.packages / big.name).unlink(missing_ok=True)
