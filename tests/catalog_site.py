"""A realistic catalog as frozen values (the pure page tests render it) and as real releases: each
helper version built into a small wheel and sdist whose METADATA says what the entry says, uploaded
by its owners into a real `helperhub registry serve` (with an owners file), yanked and given its
image through the registry's own clients, beside wheel-only mirrored projects. Used by the browser
tests and `make docs-screenshots`."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

from helperhub.registry.client import (
    IndexSettings,
    record_image_on_index,
    record_release_on_index,
    set_yanked,
    writable,
)
from helperhub.registry.server.catalog.model import HelperEntry, HelperVersion, ReleaseFile, ThirdParty
from helperhub.stack.embedded import add_user

INDEX_URL = "http://pypi.helpers.svc.cluster.local:8080"
SHA = "3f1c9a0be47d2c65a8f0e1d7b29c4e5a6d8f0b1c2e3a4d5f6a7b8c9d0e1f2a3b"
DIGEST = "sha256:9b2d41c0f7e8a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1"

TABULAR_README = """\
# tabular-helpers

Column imputation, data-quality checks and plots for tabular steps.

```python
from tabular_helpers import impute, quality_report

frame = impute(frame, strategy="median")
report = quality_report(frame, max_missing=0.05)
assert report.passed, report.failures
```

| extra | adds |
|---|---|
| `plots` | missingness and distribution plots |
| `model` | model creation and metrics |
"""


def _when(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 10, day, hour, 30, tzinfo=UTC)


def _files(name: str, version: str, size: int) -> tuple[ReleaseFile, ...]:
    module = name.replace("-", "_")
    return (ReleaseFile(f"{module}-{version}-py3-none-any.whl", SHA, size),
            ReleaseFile(f"{module}-{version}.tar.gz", SHA, size + 4000))


def _version(name: str, version: str, day: int, requires: Sequence[str] = (), *,
             yanked: str | None = None, image: bool = True) -> HelperVersion:
    return HelperVersion(
        version, _when(day), yanked, tuple(requires), ">=3.11",
        f"registry.internal:5000/{name}@{DIGEST}" if image else None, _files(name, version, 24_310 + day),
    )


TABULAR_REQUIRES = ("numpy>=1.26", "pandas>=2.1", 'matplotlib>=3.8; extra == "plots"',
                    'scikit-learn>=1.4; extra == "model"')


def sample_entries() -> list[HelperEntry]:
    """Four helpers of three teams: one with its newest version yanked, one never imaged."""
    return [
        HelperEntry(
            "tabular-helpers", "tabular-helpers",
            (_version("tabular-helpers", "1.2.0", 28, TABULAR_REQUIRES),
             _version("tabular-helpers", "1.1.0", 14, TABULAR_REQUIRES),
             _version("tabular-helpers", "1.0.0", 2, TABULAR_REQUIRES[:2])),
            ("ml-platform",), "Column imputation, data-quality checks and plots for tabular data",
            TABULAR_README, "text/markdown; charset=UTF-8; variant=GFM",
        ),
        HelperEntry(
            "vision-helpers", "vision-helpers",
            (_version("vision-helpers", "1.0.1", 29, ("numpy>=1.26", "tabular-helpers>=1.1")),
             _version("vision-helpers", "1.0.0", 20, ("numpy>=1.26", "tabular-helpers>=1.1"))),
            ("vision-team", "ml-platform"), "Histogram equalisation, CLAHE-style tiles, gamma and image statistics",
            "vision-helpers\n==============\n\nContrast enhancement for image steps.\n\n"
            "* ``equalize(image)``\n* ``clahe(image, tiles=8)``\n",
            "text/x-rst",
        ),
        HelperEntry(
            "drift-monitor", "Drift_Monitor",
            (_version("drift-monitor", "0.3.0", 30, ("numpy>=1.26", "scipy>=1.11"),
                      yanked="computes PSI on the wrong bins; use 0.2.1"),
             _version("drift-monitor", "0.2.1", 9, ("numpy>=1.26", "scipy>=1.11"))),
            ("risk-analytics",), "Population stability and KS drift checks for feature monitoring",
            "Drift checks between a reference and a current frame.", "text/plain",
        ),
        HelperEntry(
            "feature-store-client", "feature-store-client",
            (_version("feature-store-client", "2.0.0rc1", 27, ("requests>=2.31",), image=False),),
            ("data-eng",), "Read offline features by entity and timestamp",
            "", "",
        ),
    ]


def sample_third_party() -> list[ThirdParty]:
    return [
        ThirdParty("numpy", ("2.1.3", "1.26.4")), ThirdParty("pandas", ("2.2.3",)),
        ThirdParty("scikit-learn", ("1.5.2",)), ThirdParty("matplotlib", ("3.9.2",)),
        ThirdParty("kfp", ("2.17.3",)), ThirdParty("uv", ("0.13.8",)),
    ]


# -- the catalog as real releases in a real registry ------------------------------------------------

MIRROR_USER = "mirror"  # uploads the third-party wheels (and so claims them)
CLAIMED = ("feature-store-client",)  # owned by its first uploader; the others by the owners file
FIXED = (2026, 1, 1, 0, 0, 0)  # zip member times: the same bytes every build


def password(user: str) -> str:
    return f"{user}-pw"


def owners_toml(entries: Sequence[HelperEntry]) -> str:
    """The owners file naming each helper's owners, but for those left to a first-upload claim."""
    lines = ["[owners]"] + [f"{json.dumps(h.name)} = {json.dumps(list(h.owners))}"
                            for h in entries if h.name not in CLAIMED]
    return "\n".join(lines) + "\n"


def core_metadata(entry: HelperEntry, version: HelperVersion) -> bytes:
    """The METADATA of one release, saying what the entry says (names, summary, description)."""
    lines = ["Metadata-Version: 2.1", f"Name: {entry.display_name}", f"Version: {version.version}",
             f"Summary: {entry.summary}"]
    if version.requires_python:
        lines.append(f"Requires-Python: {version.requires_python}")
    lines += [f"Requires-Dist: {r}" for r in version.requires_dist]
    lines += [f"Provides-Extra: {x}" for x in version.extras]
    if entry.description_content_type:
        lines.append(f"Description-Content-Type: {entry.description_content_type}")
    return ("\n".join(lines) + "\n\n" + entry.description + "\n").encode()


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}\n"


def write_wheel(dest: Path, name: str, version: str, metadata: bytes) -> Path:
    """A small valid pure wheel (RECORD with hashes) of ``metadata``."""
    module, dist = name.replace("-", "_"), f"{name.replace('-', '_')}-{version}"
    members = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{dist}.dist-info/METADATA": metadata,
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    members[f"{dist}.dist-info/RECORD"] = ("".join(_record_line(p, d) for p, d in members.items())
                                           + f"{dist}.dist-info/RECORD,,\n").encode()
    path = dest / f"{dist}-py3-none-any.whl"
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        for member, data in members.items():
            whl.writestr(zipfile.ZipInfo(member, FIXED), data)
    return path


def write_sdist(dest: Path, name: str, version: str, metadata: bytes) -> Path:
    dist = f"{name.replace('-', '_')}-{version}"
    path = dest / f"{dist}.tar.gz"
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for member, data in ((f"{dist}/PKG-INFO", metadata), (f"{dist}/README.md", b"tests\n")):
            info = tarfile.TarInfo(member)
            info.size, info.mtime = len(data), 1767225600
            tar.addfile(info, io.BytesIO(data))
    return path


def upload(url: str, user: str, path: Path) -> None:
    resp = requests.post(f"{url}/", data={":action": "file_upload", "protocol_version": "1"},
                         files={"content": (path.name, path.read_bytes())}, auth=(user, password(user)), timeout=60)
    if resp.status_code != 200:
        raise AssertionError(f"upload of {path.name} by {user}: {resp.status_code} {resp.text}")


def populate(url: str, entries: Sequence[HelperEntry], third_party: Sequence[ThirdParty], work: Path) -> None:
    """Release ``entries`` into the registry at ``url`` as their first owner would (wheel and sdist
    per version, oldest first, then the yanks and images), and mirror ``third_party`` as wheels."""
    for entry in entries:
        owner = entry.owners[0]
        index = IndexSettings(url, owner, password(owner))
        for version in reversed(entry.versions):
            metadata = core_metadata(entry, version)
            upload(url, owner, write_wheel(work / entry.name, entry.name, version.version, metadata))
            upload(url, owner, write_sdist(work / entry.name, entry.name, version.version, metadata))
        for version in entry.versions:
            if version.yanked is not None:
                set_yanked(index, entry.name, version.version, version.yanked)
            if version.image:
                record_image_on_index(index, entry.name, version.version, version.image)
    mirrored = []
    for project in third_party:
        for number in project.versions:
            metadata = f"Metadata-Version: 2.1\nName: {project.name}\nVersion: {number}\n\n".encode()
            wheel = write_wheel(work / "mirror", project.name, number, metadata)
            upload(url, MIRROR_USER, wheel)
            mirrored.append(wheel.name)
    if entries and mirrored:  # a release records what it mirrored: that makes them third-party
        first = entries[0]
        record_release_on_index(IndexSettings(url, first.owners[0], password(first.owners[0])), first.name,
                                first.versions[0].version, {"pin": {}, "mirrored": mirrored})


@dataclass
class Registry:
    url: str
    packages: Path
    proc: subprocess.Popen[bytes]

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def catalog_registry(tmp: Path, entries: Sequence[HelperEntry], third_party: Sequence[ThirdParty],
                     index_url: str = INDEX_URL) -> Iterator[Registry]:
    """A real `helperhub registry serve` under ``tmp`` (its owners file naming the owners, the
    install snippets naming ``index_url``), populated with ``entries`` and ``third_party``."""
    tmp.mkdir(parents=True, exist_ok=True)
    users = sorted({MIRROR_USER, *(u for h in entries for u in h.owners)})
    for user in users:
        add_user(tmp / "htpasswd", user, password(user))
    (tmp / "owners.toml").write_text(owners_toml(entries))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "helperhub", "registry", "serve", "--port", str(port), "--packages",
             str(tmp / "packages"), "--htpasswd", str(tmp / "htpasswd"), "--owners", str(tmp / "owners.toml"),
             "--public-url", index_url],
            stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if writable(IndexSettings(url)):
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / "server.log").read_text())
            time.sleep(0.05)
        populate(url, entries, third_party, tmp / "dists")
        yield Registry(url, tmp / "packages", proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
