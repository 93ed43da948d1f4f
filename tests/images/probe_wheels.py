"""Wheels for the target image tests, made locally without a compiler or the internet.

``hub-probe`` is platform-specific with a real extension module: the standard library's
``xxlimited`` example module copied out of each platform's base image (an aarch64 ELF from the
arm64 base, an x86_64 one from the amd64 base) as ``hub_probe/xxlimited.cpython-311-<arch>.so``;
the import system calls ``PyInit_xxlimited`` by the last name component, so it imports there.
``probe-helper`` is the helper (pure Python, a console script) that imports it."""

from __future__ import annotations

import base64
import hashlib
import shutil
import sys
import zipfile
from pathlib import Path
from typing import Any

from helperhub.images.facts import image_files

DATE = (2026, 1, 1, 0, 0, 0)
PROBE = "hub-probe"
HELPER = "probe-helper"
HELPER_SOURCE = """\
import platform

from hub_probe import xxlimited

__version__ = "1.0.0"


def main() -> None:
    print(platform.machine(), xxlimited.__name__)
"""


def make_wheel(dest: Path, name: str, version: str, tag: str, files: dict[str, bytes], *,
               requires: tuple[str, ...] = (), entry_points: str = "") -> Path:
    """A minimal valid wheel (METADATA, WHEEL, RECORD), byte for byte the same every time."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    body = dict(files)
    body[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                + "".join(f"Requires-Dist: {r}\n" for r in requires)).encode()
    pure = tag.endswith("-none-any")
    body[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: helperhub-tests\n"
                             f"Root-Is-Purelib: {'true' if pure else 'false'}\nTag: {tag}\n").encode()
    if entry_points:
        body[f"{info}/entry_points.txt"] = entry_points.encode()
    record = []
    for path, data in sorted(body.items()):
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}\n")
    body[f"{info}/RECORD"] = ("".join(record) + f"{info}/RECORD,,\n").encode()
    out = dest / f"{dist}-{version}-{tag}.whl"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as whl:
        for path, data in sorted(body.items()):
            item = zipfile.ZipInfo(path, DATE)
            item.external_attr = (0o755 if path.endswith(".so") else 0o644) << 16
            whl.writestr(item, data)
    return out


def probe_wheels(dest: Path, client: Any, bases: dict[str, str]) -> list[Path]:
    """hub-probe for each machine (``bases``: machine -> that platform's python:3.11 base) and
    probe-helper 1.0.0."""
    wheels = []
    for machine, base in sorted(bases.items()):
        so = f"xxlimited.cpython-311-{machine}-linux-gnu.so"
        path = f"/usr/lib/python3.11/lib-dynload/{so}"
        entry = image_files(client, base, [path])[path]
        assert entry is not None and entry.data[:4] == b"\x7fELF", f"{base} has no {so}"
        wheels.append(make_wheel(dest, PROBE, "1.0.0", f"cp311-cp311-manylinux_2_17_{machine}", {
            "hub_probe/__init__.py": b"",
            f"hub_probe/{so}": entry.data,
        }))
    wheels.append(make_wheel(dest, HELPER, "1.0.0", "py3-none-any",
                             {"probe_helper/__init__.py": HELPER_SOURCE.encode()}, requires=(PROBE,),
                             entry_points="[console_scripts]\nprobe-helper = probe_helper:main\n"))
    return wheels


def uv_wheel(dest: Path, version: str) -> Path:
    """The installer as the lock pins it (a wheel holding ``<name>.data/scripts/uv``), made from
    the uv of the test environment, for the host's CPU."""
    found = shutil.which("uv", path=str(Path(sys.executable).parent))
    assert found is not None, "uv is not installed beside the test interpreter"
    return make_wheel(dest, "uv", version, "py3-none-manylinux_2_17_x86_64",
                      {f"uv-{version}.data/scripts/uv": Path(found).read_bytes()})
