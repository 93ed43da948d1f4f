"""A command imports what it uses: `helperhub --help`, every command's `--help` and the release's
import path load no kfp, docker SDK or pypiserver (seconds of imports, see the benchmarks); the
public API of helperhub.pipelines still resolves; `--version` comes from the package metadata.

Each check runs a fresh interpreter: what a process has imported is the thing under test."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import helperhub
from helperhub.cli import COMMANDS, cli

ROOT = Path(helperhub.__file__).resolve().parents[1]  # the checkout under test
HEAVY = ("kfp", "docker", "pypiserver")


def python(*args: str) -> subprocess.CompletedProcess[str]:
    """Run this interpreter on the checkout under test, from its root (its [tool.helperhub] applies)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def imported_by(*cli_args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`python -X importtime -m helperhub ARGS`: the run, and every module it imported."""
    proc = python("-X", "importtime", "-m", "helperhub", *cli_args)
    modules = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    assert "helperhub.cli" in modules, proc.stderr[-2000:]  # the probe saw the imports
    return proc, modules


def top_level(modules: set[str]) -> set[str]:
    return {m.split(".", 1)[0] for m in modules}


def test_help_imports_no_layer_it_does_not_show() -> None:
    proc, modules = imported_by("--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in COMMANDS:
        assert f"  {name} " in proc.stdout, name
    assert not top_level(modules) & {*HEAVY, "requests", "rich"}
    layers = ("helperhub.release", "helperhub.images", "helperhub.registry.client")
    assert not {m for m in modules if m.startswith(layers)}


@pytest.mark.parametrize("command", [*COMMANDS, "pins bump", "helpers show", "registry serve", "compose up"])
def test_every_commands_help_imports_no_heavy_package(command: str) -> None:
    proc, modules = imported_by(*command.split(), "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(f"Usage: helperhub {command} "), proc.stdout[:200]
    assert not top_level(modules) & set(HEAVY), command


def test_the_release_commands_import_path_has_no_kfp_docker_or_server() -> None:
    """What `helperhub release` imports before it runs (the engine is reached, and the docker SDK
    imported, only when the image stage opens)."""
    code = ("import sys, helperhub.cli.release_cmds, helperhub.release.run, helperhub.release.wheel; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    proc = python("-c", code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_the_pipelines_api_resolves_its_names_on_first_use() -> None:
    code = "\n".join([
        "import sys",
        "import helperhub.pipelines.catalog, helperhub.pipelines.pins",
        "print('kfp' in sys.modules)",
        "from helperhub.pipelines import Delivery, Mode, helper_component",
        "import helperhub.pipelines.delivery as d, helperhub.pipelines.factory as f",
        "assert Delivery is d.Delivery and Mode is d.Mode and helper_component is f.helper_component",
        "print('kfp' in sys.modules)",
        "from helperhub.pipelines import run_locally",
        "import helperhub.pipelines.local_run as lr",
        "assert run_locally is lr.run_locally",
        "print('kfp' in sys.modules)",
        "import helperhub.pipelines as p",
        "assert set(p.__all__) <= set(dir(p))",
        "try:\n    p.no_such_name\nexcept AttributeError as exc:\n    print(exc)",
    ])
    proc = python("-c", code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [
        "False", "False", "True", "module 'helperhub.pipelines' has no attribute 'no_such_name'",
    ]


def test_version_is_the_installed_distributions() -> None:
    proc = python("-m", "helperhub", "--version")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == f"helperhub {importlib.metadata.version('helperhub')}\n"


def test_an_unknown_command_is_still_an_error_that_names_the_close_one() -> None:
    result = CliRunner().invoke(cli, ["relase"])
    assert result.exit_code == 2
    assert "No such command 'relase'" in result.output
    if hasattr(click.exceptions, "NoSuchCommand"):  # click >= 8.4 suggests close names
        assert "Did you mean 'release'?" in result.output
