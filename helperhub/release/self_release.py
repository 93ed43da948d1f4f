"""The tool itself in the private index, so that another team's repository gets it with
``pip install --index-url <private index>/simple/ helperhub`` and no other index: its wheel, built
reproducibly from the tracked sources, and the closure of its base requirements and of its
``[local]`` extra (what a pipeline author needs, and runs pipelines locally with); the release and
registry stacks stay behind their extras and are not mirrored."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from helperhub.core.defaults import TARGET_GLIBC, TOOL_MACHINES, TOOL_PROJECT, TOOL_PYTHONS
from helperhub.core.errors import BuildError
from helperhub.core.fs import sha256_file
from helperhub.core.git import ensure_clean, run_git
from helperhub.core.progress import Reporter
from helperhub.core.targets import TargetFacts
from helperhub.core.tools import run_tool, scrubbed_env
from helperhub.core.wheelhouse import fetch_closure
from helperhub.registry.client import project_files
from helperhub.release.publish import publish
from helperhub.release.records import record_on_index, tool_record
from helperhub.release.wheel import ReleaseSettings

TOOL = TOOL_PROJECT
LOCAL_EXTRA = "local"
# what the wheel is built from: the package, its metadata and the README that is its description
TOOL_SOURCES = ("pyproject.toml", "README.md", "helperhub")


@dataclass(frozen=True)
class ToolRelease:
    """What `make release` did with the tool itself."""

    version: str
    wheel: str
    sha256: str
    state: str  # "released", "unchanged", or "stale" (the index holds other bytes of this version)
    mirrored: int


def tool_project(root: Path) -> dict[str, object] | None:
    """The ``[project]`` table when ``root`` is the tool's own repository, else None (a team's
    repository releases helpers, not the tool)."""
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8")).get("project")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    if not isinstance(project, dict) or canonicalize_name(str(project.get("name", ""))) != TOOL:
        return None
    if not isinstance(project.get("version"), str):
        raise BuildError(f"{root / 'pyproject.toml'} gives {TOOL} no static version; set `version` in [project]")
    return project


def tool_files(root: Path) -> list[str]:
    """The tracked files the tool's wheel is built from."""
    return [f for f in run_git(root, "ls-files", "-z", "--", *TOOL_SOURCES).split("\0") if f]


def tool_digest(root: Path, files: list[str]) -> str:
    """sha256 over the tracked sources' paths and contents: the cache key of a built wheel."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        path = root / rel
        digest.update(rel.encode() + b"\0" + (hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-"))
    return digest.hexdigest()


def cached_tool_wheel(root: Path, cache: Path) -> Path:
    """The tool's wheel for these sources, built once per content (a no-op release builds nothing)."""
    files, epoch = tool_files(root), tool_epoch(root)
    cache.mkdir(parents=True, exist_ok=True)
    folder = cache / "tool" / f"{tool_digest(root, files)}-{epoch}"  # the epoch is in the bytes too
    found = sorted(folder.glob(f"{TOOL}-*.whl"))
    if len(found) == 1:
        return found[0]
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        wheel = build_tool_wheel(root, Path(tmp), files, epoch)
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.move(str(wheel), folder / wheel.name))


def tool_epoch(root: Path) -> str:
    """SOURCE_DATE_EPOCH of the tool: the last commit touching its sources."""
    return run_git(root, "log", "-1", "--format=%ct", "--", *TOOL_SOURCES).strip()


def build_tool_wheel(root: Path, outdir: Path, files: list[str], epoch: str) -> Path:
    """The tool's wheel from its tracked sources only (copied apart: no stale build/ folder or
    untracked file can end up inside), with SOURCE_DATE_EPOCH of the last commit touching them."""
    if not files or not epoch:
        raise BuildError(f"{root} has no committed {TOOL} sources; commit them before releasing")
    with tempfile.TemporaryDirectory(prefix=f"{TOOL}-src-") as tmp:
        for rel in files:
            if (root / rel).is_file():
                (Path(tmp) / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / rel, Path(tmp) / rel)
        outdir.mkdir(parents=True, exist_ok=True)
        run_tool(
            ["pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "--wheel-dir", str(outdir), tmp],
            error=BuildError, what=f"building the {TOOL} wheel", env=scrubbed_env({"SOURCE_DATE_EPOCH": epoch}),
        )
    wheels = sorted(outdir.glob(f"{TOOL}-*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"building {TOOL} gave {[w.name for w in wheels]}; expected one wheel")
    return wheels[0]


def tool_runtimes() -> list[TargetFacts]:
    """Where the tool installs: each of ``TOOL_PYTHONS`` on each of ``TOOL_MACHINES``, CPython with
    the default target's glibc (its wheels' manylinux tags reach down to glibc 2.5)."""
    return [TargetFacts(python, "cp", TARGET_GLIBC, machine) for python in TOOL_PYTHONS for machine in TOOL_MACHINES]


def release_self(settings: ReleaseSettings, report: Reporter) -> ToolRelease | None:
    """Publish the tool's wheel and mirror its base closure; None outside the tool's repository.

    A version already in the index with other bytes is left as it is, said in one warning: a
    released version never changes, and the tool's version is bumped in pyproject.toml."""
    project = tool_project(settings.root)
    if project is None:
        return None
    if not settings.allow_dirty:  # what is published is what is committed
        ensure_clean(settings.root)
    extras: dict[str, list[str]] = project.get("optional-dependencies", {})  # type: ignore[assignment]
    # the base install and [local] (kfp.local's DockerRunner), not the release and registry stacks
    requirements = [str(r) for r in (*project.get("dependencies", []), *extras.get(LOCAL_EXTRA, []))]  # type: ignore[misc]
    with report.step(f"building {TOOL} {project['version']}"):
        wheel = cached_tool_wheel(settings.root, settings.cache)
    sha = sha256_file(wheel)
    with report.step(f"mirroring the closure of {TOOL} ({len(requirements)} requirements) for Python "
                     f"{', '.join(TOOL_PYTHONS)} on {', '.join(TOOL_MACHINES)}"):
        wheels = {p.name: p for facts in tool_runtimes() for p in fetch_closure(requirements, settings.cache, facts)}
        mirrored = publish(settings.index, sorted(wheels.values()))
    served = project_files(settings.index, TOOL).get(wheel.name)
    if served is None:
        with report.step(f"uploading {wheel.name}"):
            publish(settings.index, [wheel])
        state = "released"
    elif served.sha256 == sha:
        state = "unchanged"
    else:
        report.warn(
            f"{TOOL} {project['version']} is in the index with other bytes ({served.sha256[:12]}, these "
            f"{sha[:12]}): a released version never changes; bump `version` in pyproject.toml to publish these"
        )
        state = "stale"
    record_on_index(settings.index, TOOL, str(project["version"]),
                    tool_record(str(project["version"]), wheel.name, sha, wheels), report)
    return ToolRelease(str(project["version"]), wheel.name, sha, state, len(mirrored.upload))
