"""Test, build and check a helper package: reproducible sdist and wheel with PyPA build."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from helperhub.core.errors import BuildError
from helperhub.core.tools import run_tool, scrubbed_env
from helperhub.release.project import HelperProject


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path


def test_pythonpath(project: HelperProject, projects: dict[str, HelperProject]) -> str:
    """src folders of the project and of every local helper it needs, for running its tests."""
    seen: list[HelperProject] = []

    def walk(p: HelperProject) -> None:
        if p not in seen:
            seen.append(p)
            for dep in p.local_deps(set(projects)):
                walk(projects[dep])

    walk(project)
    return os.pathsep.join(str(p.src) for p in seen)


def run_tests(project: HelperProject, projects: dict[str, HelperProject]) -> None:
    if not project.tests.is_dir():
        raise BuildError(f"{project.name} has no tests/ folder; a helper is released tested")
    # the helper's tests are its code, run by the release: they get no upload credentials
    env = scrubbed_env({"PYTHONPATH": test_pythonpath(project, projects)})
    run_tool(
        ["pytest", "-q", "-p", "no:cacheprovider", "tests"],
        error=BuildError, what=f"the tests of {project.name}", cwd=project.path, env=env,
    )


def build_dists(project: HelperProject, outdir: Path, epoch: int) -> Dists:
    """Build sdist and wheel; SOURCE_DATE_EPOCH makes the same commit give the same bytes."""
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    env = scrubbed_env({"SOURCE_DATE_EPOCH": str(epoch)})  # the build backend is code too
    run_tool(
        ["build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(outdir), str(project.path)],
        error=BuildError, what=f"building {project.name}", env=env,
    )
    wheels, sdists = sorted(outdir.glob("*.whl")), sorted(outdir.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise BuildError(f"building {project.name} gave {wheels + sdists}; expected 1 wheel, 1 sdist")
    run_tool(
        ["twine", "check", "--strict", str(wheels[0]), str(sdists[0])],
        error=BuildError, what=f"`twine check` of {project.name}", env=scrubbed_env(),
    )
    return Dists(wheels[0], sdists[0])
