"""The registries measured side by side, each a real process on a free loopback port."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from helperhub.stack.front import FrontSettings, start_front


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tiny_wheel(name: str, version: str, size: int = 0) -> tuple[str, bytes]:
    dist = f"{name}-{version}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as whl:
        whl.writestr(f"{name}/__init__.py", "")
        if size:
            whl.writestr(f"{name}/blob.bin", os.urandom(size))
        whl.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return f"{dist}-py3-none-any.whl", buf.getvalue()


def make_tree(packages: Path, projects: int = 100, versions: int = 51) -> tuple[str, str]:
    """A registry folder with projects x versions files; returns (a project, a 100 KB wheel of it)."""
    packages.mkdir(parents=True, exist_ok=True)
    big = ""
    for p in range(projects):
        for v in range(versions):
            name, data = tiny_wheel(f"proj{p:03d}", f"1.0.{v}", size=(100 << 10) if (p, v) == (0, 0) else 0)
            (packages / name).write_bytes(data)
            big = big or name
    return "proj000", big


def wait_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"server for {url} exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextmanager
def process(cmd: list[str], url: str, log: Path) -> Iterator[str]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
    try:
        wait_up(url, proc)
        yield url.rsplit("/", 1)[0] if url.endswith("/health") else url.rsplit("/simple/", 1)[0]
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already (its log says why)
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def stock_cmd(packages: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "pypiserver", "run", "-p", str(port), "-i", "127.0.0.1", "-a", ".", "-P", ".",
            "--disable-fallback", "--hash-algo", "sha256", "--log-stream", "none", str(packages)]


def registry_cmd(packages: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "helperhub.registry", "--port", str(port), "--packages", str(packages),
            "--threads", "16"]


@contextmanager
def nginx(packages: Path, state: Path, app: str | None) -> Iterator[str]:
    listen = f"127.0.0.1:{free_port()}"
    proc = start_front(FrontSettings(listen=listen, packages=packages, state=state, app=app))
    try:
        yield f"http://{listen}"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
