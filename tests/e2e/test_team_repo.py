"""Another team's repository: helperhub installed from the private index alone, helpers pinned
with `pins bump`, the team's pipeline compiled and run in image and package mode.

Nothing of this repository is on the consumer's sys.path: the example is copied out of it, and
the tool comes from the index as a wheel into a fresh virtual environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helperhub.core.progress import Silent
from helperhub.pipelines import Delivery
from helperhub.release.self_release import release_self
from tests.conftest import REPO, ReleasedRepo, clean_env, git, release_settings

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EXAMPLE = REPO / "examples" / "team-repo"


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 600, *, stdout_only: bool = True) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{cmd[:3]} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout if stdout_only else proc.stdout + proc.stderr  # helperhub prints its tables on stderr


def test_a_team_repository_pins_compiles_and_runs(released_all: ReleasedRepo, tmp_path: Path) -> None:
    index = released_all.index.settings
    tool = release_self(release_settings(REPO, index), Silent())
    assert tool is not None and tool.state in ("released", "unchanged")

    team = tmp_path / "team-repo"
    shutil.copytree(EXAMPLE, team, ignore=shutil.ignore_patterns(".runs", ".venv", "*.yaml", "pins.json"))
    git(team, "init", "-q", "-b", "main")
    git(team, "add", "-A")
    git(team, "commit", "-qm", "team pipeline")

    # a fresh environment, the private index alone: no config file, no PIP_* variable of this machine
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in clean_env().items() if not k.startswith(("HUB_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    run([str(venv / "bin" / "python"), "-m", "pip", "--isolated", "install", "--quiet", "--index-url",
         index.simple_url, "--trusted-host", index.host, "helperhub[local]"], team, env)
    installed = json.loads(run([str(venv / "bin" / "python"), "-c",
                                "import importlib.metadata as m, json, helperhub; print(json.dumps("
                                "[[d.metadata['Name'].lower() for d in m.distributions()], helperhub.__file__]))"],
                               team, env))
    assert not {"pypiserver", "waitress", "twine", "build", "hatchling"} & set(installed[0]), installed[0]
    assert installed[1].startswith(str(venv)), installed[1]  # the index's wheel, not this checkout

    # where the shared registries are: the variables beside the flags override [tool.helperhub]
    env |= {"HUB_INDEX_URL": index.base, "HUB_OCI_REGISTRY": released_all.oci}
    hub = str(venv / "bin" / "helperhub")
    for name in ("tabular-helpers", "vision-helpers"):
        run([hub, "pins", "bump", name, "1.0.0"], team, env)
    lock = Delivery.from_lock(team / "pins.json").lock  # the public API, as the team's pipeline reads it
    ours = Delivery.from_lock(released_all.root / "pins.json").lock
    for name in ("tabular-helpers", "vision-helpers"):  # the same bytes the release pinned
        assert (lock.packages[name].sha256, lock.packages[name].closure) == (
            ours.packages[name].sha256, ours.packages[name].closure)
        assert lock.packages[name].image is not None
    assert "closure files" in run([hub, "pins", "check"], team, env, stdout_only=False)
    run([hub, "env", "lock", "--offline"], team, env)  # the scoring step's environment, and its image
    run([hub, "env", "build"], team, env)
    scoring = Delivery.from_lock(team / "pins.json").lock.require_environment("scoring")
    assert [m.name for m in scoring.modules] == ["team-scoring"] and all(t.image for t in scoring.targets.values())

    results = {}
    for mode in ("image", "package"):
        out = run([str(venv / "bin" / "python"), "pipeline.py", mode], team, env, timeout=900)
        results[mode] = out.strip().splitlines()[-1].split()[-1]
        assert (team / f"team-scoring-{mode}.yaml").is_file()
    assert results["image"] == results["package"] and 0.0 < float(results["image"]) <= 1.0, results
    used = run([hub, "who-pins"], team, env, stdout_only=False)
    assert "tabular-helpers 1.0.0" in used and "team-scoring" in used
