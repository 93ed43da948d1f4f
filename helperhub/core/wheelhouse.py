"""The host's wheelhouse: the wheels of a requirement set's whole closure, fetched once with pip
from the host's indexes (which image builds and pods cannot reach) and cached by that set."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from helperhub.core.errors import RegistryError
from helperhub.core.fs import atomic_write_text
from helperhub.core.tools import run_tool


def closure_key(reqs: list[str]) -> str:
    ident = "\n".join([sys.implementation.cache_tag, platform.machine(), *reqs])
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def fetch_closure(reqs: list[str], cache: Path) -> list[Path]:
    """Wheels of the whole closure of ``reqs`` for this interpreter and platform.

    Resolved with pip from the machine's configured indexes (the host can reach them; pods and
    image builds cannot) and cached by the requirement set, so a repeated release asks no index.
    """
    wheelhouse, record = cache / "wheelhouse", cache / "closures" / f"{closure_key(reqs)}.json"
    if record.is_file():
        names = json.loads(record.read_text())
        paths = [wheelhouse / n for n in names]
        if all(p.is_file() for p in paths):
            return paths
    wheelhouse.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        run_tool(
            ["pip", "wheel", "--quiet", "--progress-bar", "off", "--wheel-dir", tmp, *reqs],
            error=RegistryError, what="fetching the dependency closure with pip",
        )
        names = sorted(p.name for p in Path(tmp).iterdir() if p.suffix == ".whl")
        for name in names:
            if not (wheelhouse / name).exists():
                shutil.move(str(Path(tmp) / name), wheelhouse / name)
    atomic_write_text(record, json.dumps(names, indent=1))
    return [wheelhouse / n for n in names]
