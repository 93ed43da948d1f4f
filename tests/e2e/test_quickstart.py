"""The team quick start of README.md, run exactly as written, and the same of
examples/team-repo/README.md: the blocks marked `<!-- quickstart -->` are run in order by one bash
(a block marked `<!-- quickstart: NAME -->` is the file NAME the reader saves, written where the
commands before it left off), in a fresh folder, with a fresh virtual environment of the
machine's python3, against a real registry holding the released helpers and the tool itself.

The only thing the test chooses is where the registries are: the quick start reads them from
`HUB_INDEX_URL` and `HUB_OCI_REGISTRY` (defaulting to `make release`'s), which the test points at
its own. Nothing of this checkout is on the quick start's path."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helperhub.core.progress import Silent
from helperhub.core.tools import scrubbed_env
from helperhub.pipelines import Delivery
from helperhub.release.self_release import release_self
from tests.conftest import REPO, ReleasedRepo, git, release_settings

EXAMPLE = REPO / "examples" / "team-repo"
BLOCK = re.compile(
    r"^<!-- quickstart(?::\s*(?P<file>[\w./-]+))? -->\n```(?P<lang>\w+)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL
)
END = "QUICKSTART_EOF"
PUBLIC_IMPORT = "from helperhub.pipelines import Delivery, helper_component, run_locally"


def quickstart(markdown: Path) -> tuple[str, dict[str, str]]:
    """The marked blocks of ``markdown`` as one bash script, and the files it writes by name."""
    parts, files = [], {}
    for block in BLOCK.finditer(markdown.read_text(encoding="utf-8")):
        body = block["body"]
        if block["file"]:
            assert END not in body
            files[block["file"]] = body
            folder = f"mkdir -p {shlex.quote(str(Path(block['file']).parent))} && " if "/" in block["file"] else ""
            parts.append(f"{folder}cat > {shlex.quote(block['file'])} <<'{END}'\n{body}{END}\n")
        else:
            assert block["lang"] in ("bash", "sh"), f"a marked {block['lang']} block names no file"
            parts.append(body)
    return "set -eo pipefail\n" + "\n".join(parts), files


@pytest.mark.parametrize("markdown", [REPO / "README.md", EXAMPLE / "README.md"], ids=["README", "team-repo"])
def test_the_quick_start_is_marked_and_uses_the_public_api(markdown: Path) -> None:
    script, files = quickstart(markdown)
    commands = [line for line in script.splitlines() if line and not line.startswith(("cat >", "set -"))]
    install = next(line for line in commands if " pip install " in f" {line} ")
    # pip reads no config file and no PIP_* variable: the private index is the only one it asks
    assert install.startswith("PIP_CONFIG_FILE=/dev/null pip install --isolated ")
    assert '--index-url "$HUB_INDEX_URL/simple/"' in install and "'helperhub[local]'" in install
    assert "extra-index" not in script and "pypi.org" not in script
    assert any(line.startswith("helperhub pins bump ") for line in commands)
    assert any(line.startswith("python pipeline.py") for line in commands)
    pipeline = files.get("pipeline.py") or (markdown.parent / "pipeline.py").read_text()
    imports = [line for line in pipeline.splitlines() if re.match(r"\s*(from|import) helperhub\b", line)]
    assert imports == [PUBLIC_IMPORT]
    assert 'Delivery.from_lock("pins.json", mode=' in pipeline


def fresh_env(released: ReleasedRepo) -> dict[str, str]:
    """This machine's environment as a newcomer's shell has it: no helperhub setting, no virtual
    environment of this checkout on PATH, no PIP_* variable; the registries are the test's."""
    ours = {Path(sys.prefix).resolve(), (REPO / ".venv").resolve()}
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep)
            if p and not any(Path(p).resolve().is_relative_to(v) for v in ours)]
    env = {k: v for k, v in scrubbed_env().items() if not k.startswith(("HUB_", "PYTHON", "VIRTUAL_ENV"))}
    return env | {"PATH": os.pathsep.join(path), "HUB_INDEX_URL": released.index.settings.base,
                  "HUB_OCI_REGISTRY": released.oci}


def run_quickstart(markdown: Path, cwd: Path, env: dict[str, str]) -> str:
    script, _ = quickstart(markdown)
    (cwd.parent / "quickstart.sh").write_text(script)  # what ran, for reading a failure
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=2400)
    assert proc.returncode == 0, f"the quick start failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def assert_own_install(team: Path, env: dict[str, str]) -> None:
    """The quick start's venv imports helperhub from the index's wheel, not from this checkout."""
    python = team / ".venv" / "bin" / "python"
    out = subprocess.run([str(python), "-c", "import helperhub; print(helperhub.__file__)"],
                         cwd=team, env=env, check=True, capture_output=True, text=True).stdout
    assert out.startswith(str(team / ".venv")), out


@pytest.fixture(scope="module")
def released_with_tool(released_all: ReleasedRepo) -> ReleasedRepo:
    """The helpers and their images (the session's release), and the tool with its closure."""
    tool = release_self(release_settings(REPO, released_all.index.settings), Silent())
    assert tool is not None and tool.state in ("released", "unchanged")
    return released_all


@pytest.mark.slow
@pytest.mark.docker
def test_readme_quick_start_runs_as_written(released_with_tool: ReleasedRepo, tmp_path: Path) -> None:
    if shutil.which("python3") is None:
        pytest.skip("no python3 on PATH")
    home = tmp_path / "newcomer"
    home.mkdir()
    env = fresh_env(released_with_tool)
    out = run_quickstart(REPO / "README.md", home, env)
    team = home / "team-scoring"
    assert_own_install(team, env)
    assert "mean after filling the gaps: 4.25" in out.splitlines()[-1], out[-2000:]
    assert (team / "quickstart.yaml").is_file()
    # pinned from the test's registries, the bytes the release pinned
    delivery = Delivery.from_lock(team / "pins.json", mode="image")
    ours = Delivery.from_lock(released_with_tool.root / "pins.json", mode="image")
    pin = delivery.lock.packages["tabular-helpers"]
    assert pin.index_url == released_with_tool.index.settings.simple_url
    assert (pin.sha256, pin.closure) == (ours.lock.packages["tabular-helpers"].sha256,
                                         ours.lock.packages["tabular-helpers"].closure)
    assert pin.image is not None and pin.image.ref.startswith(f"{released_with_tool.oci}/tabular-helpers@sha256:")
    # the step ran in its helper image and wrote its output where kfp.local keeps it
    outputs = [json.loads(p.read_text()) for p in (team / ".runs").rglob("executor_output.json")]
    assert any(o.get("parameterValues", {}).get("Output") == 4.25 for o in outputs), outputs
    # the step on the environment ran in its image: both helpers, rich and the team's module
    assert any(o.get("parameterValues", {}).get("Output") == "high (vision-helpers 1.0.0)" for o in outputs), outputs
    env = delivery.lock.require_environment("scoring")
    assert [m.name for m in env.modules] == ["team-scoring"] and all(t.image for t in env.targets.values())


@pytest.mark.slow
@pytest.mark.docker
def test_team_repo_quick_start_runs_as_written(released_with_tool: ReleasedRepo, tmp_path: Path) -> None:
    team = tmp_path / "team-repo"
    shutil.copytree(EXAMPLE, team, ignore=shutil.ignore_patterns(".runs", ".venv", "*.yaml", "pins.json"))
    git(team, "init", "-q", "-b", "main")  # the team's own repository
    git(team, "add", "-A")
    git(team, "commit", "-qm", "team pipeline")
    env = fresh_env(released_with_tool)
    out = run_quickstart(EXAMPLE / "README.md", team, env)
    assert_own_install(team, env)
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"image: accuracy (0\.\d{4}|1\.0000)", last), out[-2000:]
    assert float(last.split()[-1]) > 0.0
    assert (team / "team-scoring-image.yaml").is_file()
    assert set(Delivery.from_lock(team / "pins.json").lock.packages) == {"tabular-helpers", "vision-helpers"}
