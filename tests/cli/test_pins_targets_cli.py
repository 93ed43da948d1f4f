"""`pins show` of a lock with targets: a row per target, and the closure of one target on one platform."""

from __future__ import annotations

import subprocess
from pathlib import Path

from click.testing import CliRunner

from helperhub.cli import cli
from helperhub.lock.lockfile import save_lock
from tests.pipelines.test_pins_targets import ARM, repo_lock, with_py313


def lock_repo(tmp_path: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    lock = repo_lock()
    save_lock(tmp_path / "pins.json", lock.with_pin(with_py313(lock.require("tabular-helpers", fix="-"))))
    return tmp_path


def show(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["pins", "show", *args], env={"COLUMNS": "400"})
    return result.exit_code, result.output


def test_pins_show_has_a_row_per_target(tmp_path: Path) -> None:
    root = lock_repo(tmp_path)
    code, out = show("--root", str(root))
    assert code == 0, out
    assert "target" in out.splitlines()[1] and "python" in out.splitlines()[1]
    assert "py313" in out and "3.13 (cp, glibc 2.41)" in out and "amd64, arm64" in out
    assert "default (default)" in out


def test_pins_show_the_closure_of_a_target_on_a_platform(tmp_path: Path) -> None:
    root = lock_repo(tmp_path)
    code, out = show("--root", str(root), "--closure", "tabular-helpers", "--target", "py313", "--platform", ARM)
    assert code == 0, out
    assert "closure of tabular-helpers (py313, linux/arm64)" in out and "aarch64" in out and "x86_64" not in out
    code, out = show("--root", str(root), "--target", "py313")
    assert code == 2 and "give --closure NAME too" in out
