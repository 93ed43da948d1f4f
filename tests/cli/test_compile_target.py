"""`helperhub compile --target` / HUB_TARGET: the steps of the compiled example use that target of
the lock; a target the lock lacks is one line naming those it has."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from helperhub.cli import cli
from helperhub.lock.lockfile import Lock, save_lock
from tests.conftest import git
from tests.pipelines.target_locks import two_target_lock

HELPERS = ("tabular-helpers", "vision-helpers")


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Path, Lock]:
    """A pipeline repository: a git checkout holding only pins.json, with targets default and py313."""
    root = tmp_path / "pipes"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    lock = two_target_lock()
    save_lock(root / "pins.json", lock)
    return root, lock


def compile_args(root: Path, *extra: str) -> list[str]:
    return ["compile", "--root", str(root), "--mode", "image", "--mode", "package", "--out", str(root / "out"),
            *extra]


def images(path: Path) -> set[str]:
    ir = yaml.safe_load(path.read_text())
    return {e["container"]["image"] for e in ir["deploymentSpec"]["executors"].values()}


@pytest.mark.parametrize("how", ["flag", "env"])
def test_compile_uses_the_target_given(repo: tuple[Path, Lock], how: str) -> None:
    root, lock = repo
    args, env = (compile_args(root, "--target", "py313"), {}) if how == "flag" else (
        compile_args(root), {"HUB_TARGET": "py313"})
    result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = root / "out"
    assert sorted(p.name for p in out.iterdir()) == ["helper-example-image-py313.yaml",
                                                     "helper-example-package-py313.yaml"]
    assert images(out / "helper-example-image-py313.yaml") == {
        lock.packages[n].targets["py313"].image.ref for n in HELPERS}  # type: ignore[union-attr]
    package = (out / "helper-example-package-py313.yaml").read_text()
    assert "cp313-cp313-manylinux" in package and "cp311" not in package
    assert "aarch64)" in package and '\\"target\\":\\"py313\\"' in package


def test_compile_without_a_target_uses_each_helpers_first(repo: tuple[Path, Lock]) -> None:
    root, lock = repo
    result = CliRunner().invoke(cli, compile_args(root), env={"HUB_TARGET": None}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert images(root / "out" / "helper-example-image.yaml") == {lock.packages[n].image.ref for n in HELPERS}  # type: ignore[union-attr]


def test_compile_for_a_target_the_lock_lacks_is_one_line(repo: tuple[Path, Lock]) -> None:
    root, _ = repo
    result = CliRunner().invoke(cli, compile_args(root, "--target", "py399"), env={"HUB_TARGET": None})
    assert result.exit_code == 1
    assert result.output == ("Error: the pin of tabular-helpers 1.0.0 has no target 'py399'; it has default, py313: "
                             "re-release it for that target, or pick one of them\n")
    assert not (root / "out").exists() or not list((root / "out").glob("*.yaml"))
