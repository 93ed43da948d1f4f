"""Stock pypiserver and the project's registry, each a real server process, for the same tests."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import requests

from helperhub.registry.client import IndexSettings, health, writable
from helperhub.stack.embedded import add_user

from .conftest import free_port

USER, PASSWORD = "ci", "s3cret"
KINDS = ("stock", "helperhub")


@dataclass
class Server:
    """A registry process that can be killed and restarted on the same folder and port."""

    kind: str
    tmp: Path
    max_upload_mb: int = 64
    prefill: int = 0  # files of other projects already in the registry
    options: tuple[str, ...] = ()  # more options of the project's registry
    users: tuple[tuple[str, str], ...] = ()  # more upload logins (user, password) beside USER
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def packages(self) -> Path:
        return self.tmp / "packages"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        htpasswd = self.tmp / "htpasswd"
        if self.kind == "stock":
            return [sys.executable, "-m", "pypiserver", "run", "-p", str(self.port), "-i", "127.0.0.1",
                    "-P", str(htpasswd), "-a", "update", "--disable-fallback", "--hash-algo", "sha256",
                    str(self.packages)]
        return [sys.executable, "-m", "helperhub.registry", "--port", str(self.port), "--packages", str(self.packages),
                "--htpasswd", str(htpasswd), "--max-upload-mb", str(self.max_upload_mb), *self.options]

    def start(self, until: str = "writes") -> Server:
        """Start and wait until it takes uploads (``until="reads"``: until it answers reads)."""
        self.packages.mkdir(parents=True, exist_ok=True)
        for i in range(self.prefill):
            filler = self.packages / f"filler{i % 50}-0.0.{i}.tar.gz"
            if not filler.exists():
                filler.write_bytes(b"")
        if not (self.tmp / "htpasswd").exists():
            for user, password in ((USER, PASSWORD), *self.users):
                add_user(self.tmp / "htpasswd", user, password)
        log = (self.tmp / "server.log").open("ab")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            try:
                if (writable if until == "writes" else health)(IndexSettings(self.url)):
                    return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((self.tmp / "server.log").read_text())
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def upload(self, filename: str, data: bytes, auth: tuple[str, str] | None = (USER, PASSWORD)) -> int:
        files = {"content": (filename, data, "application/octet-stream")}
        form = {":action": "file_upload", "protocol_version": "1"}
        resp = requests.post(f"{self.url}/", data=form, files=files, auth=auth, timeout=120,
                             headers={"User-Agent": "sidebyside-test"})
        return resp.status_code

    def listed(self, project: str) -> dict[str, str]:
        """file name -> sha256 the index links carry."""
        from helperhub.registry.client import IndexSettings, project_files

        return {n: f.sha256 for n, f in project_files(IndexSettings(self.url), project).items()}

    def served_sha(self, filename: str) -> str:
        return hashlib.sha256(requests.get(f"{self.url}/packages/{filename}", timeout=60).content).hexdigest()


def make_wheel(name: str, version: str, payload: bytes = b"", meta_name: str | None = None,
               meta_version: str | None = None) -> tuple[str, bytes]:
    """A real, installable wheel; ``payload`` makes it as large as a test needs."""
    dist = f"{name.replace('-', '_')}-{version}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as whl:
        whl.writestr(f"{name.replace('-', '_')}/__init__.py", f"VERSION = {version!r}\n")
        if payload:
            whl.writestr(f"{name.replace('-', '_')}/blob.bin", payload)
        whl.writestr(f"{dist}.dist-info/METADATA",
                     f"Metadata-Version: 2.1\nName: {meta_name or name}\nVersion: {meta_version or version}\n")
        whl.writestr(f"{dist}.dist-info/WHEEL",
                     "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{dist}.dist-info/RECORD", "")
    return f"{dist}-py3-none-any.whl", buf.getvalue()


def write_wheel(path: Path, name: str, version: str, *, metadata_padding: int = 0, blob: int = 0,
                compression: int = zipfile.ZIP_STORED) -> Path:
    """A wheel written straight to disk, at flat memory, however large: ``metadata_padding``
    bytes of description in its METADATA (a decompression bomb when deflated), ``blob`` bytes of
    zeros in one package file."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = path / f"{dist}-py3-none-any.whl"
    chunk = b"a" * (1 << 20)
    with zipfile.ZipFile(path, "w", compression) as whl:
        with whl.open(f"{dist}.dist-info/METADATA", "w", force_zip64=True) as fh:
            fh.write(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode())
            for start in range(0, metadata_padding, len(chunk)):
                fh.write(chunk[: min(len(chunk), metadata_padding - start)])
        whl.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\n"
                     "Tag: py3-none-any\n")
        whl.writestr(f"{dist}.dist-info/RECORD", "")
        if blob:
            with whl.open(f"{name.replace('-', '_')}/blob.bin", "w", force_zip64=True) as fh:
                zeros = bytes(1 << 20)
                for start in range(0, blob, len(zeros)):
                    fh.write(zeros[: min(len(zeros), blob - start)])
    return path


def stream_upload(url: str, wheel: Path, auth: tuple[str, str] | None = (USER, PASSWORD),
                  timeout: float = 600) -> int:
    """POST a wheel from disk as twine does (multipart form with Content-Length), streamed."""
    import base64
    import http.client
    from urllib.parse import urlsplit

    boundary = "helperhubtestboundary"
    head = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in ((":action", "file_upload"), ("protocol_version", "1"))
    ) + (f'--{boundary}\r\nContent-Disposition: form-data; name="content"; filename="{wheel.name}"\r\n'
         "Content-Type: application/octet-stream\r\n\r\n")
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head.encode()) + wheel.stat().st_size + len(tail)
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    conn.putrequest("POST", "/")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    if auth is not None:
        conn.putheader("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    conn.endheaders()
    try:
        conn.send(head.encode())
        with wheel.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                conn.send(chunk)
        conn.send(tail)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused early: the answer is already on its way
    status = conn.getresponse().status
    conn.close()
    return status


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")
