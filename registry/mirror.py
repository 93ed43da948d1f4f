"""The air-gapped closure: every third-party wheel a pod needs to install a helper (and the kfp
runtime of the SDK in use), fetched once on the host and mirrored into the private index."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .errors import RegistryError
from .lock import atomic_write_text
from .project import HelperProject


def closure_requirements(
    project: HelperProject, projects: dict[str, HelperProject], kfp_version: str
) -> list[str]:
    """Third-party requirements of the helper, its extras and its local helper dependencies."""
    local = set(projects)
    reqs: set[str] = {f"kfp=={kfp_version}"}
    todo, seen = [project], set()
    while todo:
        p = todo.pop()
        if p.name in seen:
            continue
        seen.add(p.name)
        for raw in (*p.requires, *p.extra_requires):
            req = Requirement(raw)
            name = canonicalize_name(req.name)
            if name in local:
                todo.append(projects[name])
            else:
                req.marker = None
                reqs.add(str(req))
    return sorted(reqs)


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
    from .tools import run_tool

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
