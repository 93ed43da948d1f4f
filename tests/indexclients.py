"""Real index clients (pip, uv, twine) run against a registry on loopback, tiny dists to feed them,
and a recording proxy that shows what a client fetched."""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

BIN = Path(sys.executable).parent
UV = BIN / "uv"
TWINE = BIN / "twine"
# what pip 26 and uv send when they fetch a simple page
PIP_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
UV_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
FIXED = (2026, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Dist:
    path: Path
    metadata: bytes  # the wheel's METADATA / the sdist's PKG-INFO

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def _metadata(name: str, version: str, requires: Sequence[str], requires_python: str | None) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {name} for tests"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {r}" for r in requires]
    return ("\n".join(lines) + "\n\n").encode()


def build_wheel(dest: Path, name: str, version: str, requires: Sequence[str] = (),
                requires_python: str | None = None, payload: bytes = b"") -> Dist:
    """A small, valid, installable pure wheel (RECORD with hashes), the same bytes every time;
    ``payload`` makes it as large as a test needs."""
    module, dist = name.replace("-", "_"), f"{name.replace('-', '_')}-{version}"
    metadata = _metadata(name, version, requires, requires_python)
    members = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{dist}.dist-info/METADATA": metadata,
        **({f"{module}/blob.bin": payload} if payload else {}),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in members.items()
    ) + f"{dist}.dist-info/RECORD,,\n"
    members[f"{dist}.dist-info/RECORD"] = record.encode()
    path = dest / f"{dist}-py3-none-any.whl"
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        for member, data in members.items():
            whl.writestr(zipfile.ZipInfo(member, FIXED), data)
    return Dist(path, metadata)


def build_sdist(dest: Path, name: str, version: str, requires_python: str | None = None) -> Dist:
    """A small sdist whose PKG-INFO carries Requires-Python."""
    dist = f"{name.replace('-', '_')}-{version}"
    metadata = _metadata(name, version, (), requires_python)
    path = dest / f"{dist}.tar.gz"
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for member, data in ((f"{dist}/PKG-INFO", metadata), (f"{dist}/README", b"tests\n")):
            info = tarfile.TarInfo(member)
            info.size, info.mtime = len(data), 1767225600
            tar.addfile(info, io.BytesIO(data))
    return Dist(path, metadata)


def client_env(tmp: Path) -> dict[str, str]:
    """pip and uv read no config of the machine and cache under ``tmp``: nothing reaches a public index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_CACHE_DIR="1",
               UV_NO_CONFIG="1", UV_CACHE_DIR=str(tmp / "uv-cache"), UV_PYTHON_DOWNLOADS="never", NO_COLOR="1")
    return env


def run(args: Sequence[str | Path], tmp: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=180,
                          env={**client_env(tmp), **env})
    if check and proc.returncode != 0:
        raise AssertionError(f"{args[:3]} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def pip_resolve(index: str, requirement: str, tmp: Path, *extra: str) -> dict[str, str]:
    """name -> version pip would install for ``requirement`` from ``index`` alone (nothing installed)."""
    proc = run([sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
                "--report", "-", "--index-url", f"{index}/simple/", *extra, requirement], tmp)
    report = json.loads(proc.stdout)
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in report["install"]}


def uv_venv(tmp: Path) -> Path:
    """A throwaway venv for uv to resolve into; its python."""
    run([UV, "venv", "--quiet", "--python", sys.executable, tmp / "venv"], tmp)
    return tmp / "venv" / "bin" / "python"


UV_LINE = re.compile(r"^\s*\+\s*(\S+)==(\S+)\s*$")


def uv_resolve(index: str, requirement: str, python: Path, tmp: Path, *extra: str) -> dict[str, str]:
    """name -> version ``uv pip install --dry-run`` would install from ``index`` alone."""
    proc = run([UV, "pip", "install", "--dry-run", "--python", python, "--index-url", f"{index}/simple/",
                *extra, requirement], tmp)
    return {m[1]: m[2] for line in (proc.stdout + proc.stderr).splitlines() if (m := UV_LINE.match(line))}


# -- a recording proxy ----------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    accept: str
    content_type: str


@dataclass
class Recorder:
    """A loopback HTTP proxy in front of an index: what a client asked for, and in which format it
    was answered."""

    upstream: str
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def paths(self, suffix: str = "") -> list[str]:
        return [s.path for s in self.seen if s.path.split("?")[0].endswith(suffix)]


@contextmanager
def recording(upstream: str) -> Iterator[Recorder]:
    recorder = Recorder(upstream)
    target = urlsplit(upstream)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._forward()

        def do_HEAD(self) -> None:
            self._forward()

        def _forward(self) -> None:
            conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            conn.request(self.command, self.path, headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            with lock:
                recorder.seen.append(Seen(self.command, self.path, self.headers.get("Accept", ""),
                                          resp.getheader("Content-Type", "")))
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            conn.close()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
