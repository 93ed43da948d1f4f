"""A platform's /opt/helpers installed on the host, for a CPU the host cannot run: uv (the
lock's, for the host's CPU) installs the platform's locked files by URL and sha256 from the
private index, exactly as helper.Dockerfile does, into a staging tree laid out like the venv
``python3 -m venv --without-pip /opt/helpers`` makes in the base. No code of the platform runs;
nothing is resolved (``--no-deps --require-hashes``: every file is the lock's)."""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from helperhub.core.errors import EngineError
from helperhub.core.targets import TargetFacts
from helperhub.core.tools import scrubbed_env
from helperhub.core.uv import BOOTSTRAP, RECORD
from helperhub.images.layer import VENV, pyvenv_cfg
from helperhub.lock.closure import LockedFile

UV_NEWEST_GLIBC = 40  # the newest manylinux_2_N uv's --python-platform names
REPORT = "helperhub-install-report.json"  # what the step-start check reads (helper.Dockerfile's)
GITIGNORE = "# Created by venv; see https://docs.python.org/3/library/venv.html\n*\n"  # Python >= 3.13
# a console script's first line as uv writes it for the host's interpreter, or its /bin/sh launcher
_SHEBANG = re.compile(rb"\A(#![^\n]*/python[0-9.]*\n|#!/bin/sh\n'''exec' [^\n]*\n' '''\n)")
SHEBANG = f"#!{VENV}/bin/python\n".encode()


@dataclass(frozen=True)
class BasePython:
    """The base image's python3, as its venv would name it (read from its files)."""

    prefix: str  # "/usr" (Debian's python3) or "/usr/local" (the official python images)
    executable: str  # where prefix/bin/python3's links end: "/usr/bin/python3.11"
    version: str  # "3.11.2"


def host_uv(cache: Path, uv: LockedFile, url: str) -> Path:
    """The lock's uv for the host's CPU, fetched by sha256 from the index once (core/uv.py's
    BOOTSTRAP, as an image build does) and kept under ``cache``/uv/<sha256>."""
    dest = cache / "uv" / uv.sha256 / "uv"
    if dest.is_file():
        return dest
    dest.parent.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent.parent) as tmp:
        proc = subprocess.run([sys.executable, "-c", BOOTSTRAP, url, uv.sha256, uv.version, tmp],
                              capture_output=True, text=True, env=scrubbed_env())
        if proc.returncode != 0:
            raise EngineError((proc.stderr.strip().splitlines() or [f"fetching uv from {url} failed"])[-1])
        dest.parent.mkdir(exist_ok=True)
        os.replace(Path(tmp, "uv"), dest)
    return dest


def python_platform(facts: TargetFacts) -> str:
    """uv's --python-platform for ``facts``: ``aarch64-manylinux_2_36``."""
    major, minor = facts.glibc
    return f"{facts.machine}-manylinux_{major}_{min(minor, UV_NEWEST_GLIBC)}"


def install_tree(uv: Path, root: Path, third: list[str], helpers: list[str], facts: TargetFacts,
                 base: BasePython) -> Path:
    """/opt/helpers under ``root`` with the requirement words ``third`` and ``helpers`` installed
    for ``facts`` (what helper.Dockerfile's two layers install), its venv files and the install
    record of the helpers. Returns the venv's folder."""
    venv = root / VENV.lstrip("/")
    work = root.parent / f"{root.name}-requirements"
    work.mkdir()
    (work / "helpers.txt").write_text("".join(f"{w}\n" for w in helpers))
    install_files(uv, venv, [*third, *helpers], facts, work / "all.txt")
    venv_files(venv, facts.python, base)
    subprocess.run([sys.executable, "-c", RECORD, str(venv / REPORT), str(work / "helpers.txt")], check=True)
    return venv


def install_files(uv: Path, venv: Path, requirements: list[str], facts: TargetFacts, listing: Path) -> Path:
    """The requirement words ``requirements`` (each a locked file by URL and sha256) installed for
    ``facts`` under the venv folder ``venv`` on the host, laid out as in the image (no bytecode,
    console scripts on the venv's python); ``listing``: where their list is written. Returns the
    venv's site-packages."""
    listing.write_text("".join(f"{w}\n" for w in requirements))
    env = {k: v for k, v in scrubbed_env().items() if not k.startswith("UV_")}
    proc = subprocess.run(
        [str(uv), "pip", "install", "--prefix", str(venv), "--python", sys.executable,
         "--python-version", facts.python, "--python-platform", python_platform(facts),
         "--no-config", "--no-index", "--no-deps", "--require-hashes", "--no-cache", "--link-mode=copy",
         "--quiet", "-r", str(listing)],
        capture_output=True, text=True, env=env,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise EngineError(f"installing the closure for {facts.machine} on the host failed: {last}")
    host = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    lib = venv / "lib" / f"python{facts.python}"
    if host != lib.name:  # uv's --prefix takes the layout of the interpreter it runs with
        os.replace(venv / "lib" / host, lib)
    (lib / "site-packages").mkdir(parents=True, exist_ok=True)
    for cache in sorted(venv.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    fix_scripts(venv, lib / "site-packages")
    return lib / "site-packages"


def fix_scripts(venv: Path, site: Path) -> list[str]:
    """Point console scripts at the venv's python, as an install inside the image does, and keep
    their RECORD lines true (hash and size). Returns the scripts changed."""
    changed = {}
    for script in sorted((venv / "bin").glob("*")) if (venv / "bin").is_dir() else []:
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        first = _SHEBANG.match(data)
        if first is None:
            continue
        new = SHEBANG + data[first.end():]
        script.write_bytes(new)
        changed[f"../../../bin/{script.name}"] = new
    for record in sorted(site.glob("*.dist-info/RECORD")):
        lines = record.read_text(encoding="utf-8").splitlines(keepends=True)
        out = []
        for line in lines:
            row = next(csv.reader([line]))
            if row and row[0] in changed:
                data = changed[row[0]]
                digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                line = f"{row[0]},sha256={digest},{len(data)}\n"
            out.append(line)
        record.write_text("".join(out), encoding="utf-8")
    return sorted(changed)


def venv_files(venv: Path, python: str, base: BasePython) -> None:
    """What ``python3 -m venv --without-pip`` adds around the installed files (the activate
    scripts aside: no step sources them, and their text differs between Python releases)."""
    bin_dir = venv / "bin"
    bin_dir.mkdir(exist_ok=True)
    (venv / "include" / f"python{python}").mkdir(parents=True, exist_ok=True)
    (venv / "pyvenv.cfg").write_text(pyvenv_cfg(base.prefix, base.version, base.executable))
    os.symlink(f"{base.prefix}/bin/python3", bin_dir / "python3")
    for name in ("python", f"python{python}"):
        os.symlink("python3", bin_dir / name)
    os.symlink("lib", venv / "lib64")
    if tuple(map(int, python.split("."))) >= (3, 13):
        (venv / ".gitignore").write_text(GITIGNORE)
