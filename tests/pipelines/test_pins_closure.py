"""The pin tools and the locked closure: show and diff rows (pure), the lock's git history, and
`check_pins` / `bump_pin` against a real registry holding a real release."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helperhub.core.errors import LockError
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import Lock, PackagePin, load_lock, save_lock
from helperhub.pipelines.pin_history import diff_lines, diff_pins, diff_rows, find_pin
from helperhub.pipelines.pins import bump_pin, check_pins, closure_file_count, closure_rows, pins_rows
from helperhub.release.project import discover
from tests.conftest import Released, git

A, B = "a" * 64, "b" * 64


def pin(name: str, version: str, *files: LockedFile) -> PackagePin:
    wheel = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    return PackagePin(
        name=name, version=version, wheel=wheel, sha256=A, url=f"http://127.0.0.1:8080/packages/{wheel}",
        index_url="http://127.0.0.1:8080/simple/", kfp_version="2.17.3", commit="c" * 40,
        released_at="2026-01-01T00:00:00Z",
    ).with_closure(files)


def whl(name: str, version: str, sha: str = A, extras: tuple[str, ...] = ()) -> LockedFile:
    return LockedFile(name, version, f"{name}-{version}-py3-none-any.whl", sha, extras)


# -- pure: show and diff rows ---------------------------------------------------------------------

def test_closure_rows_show_each_locked_file() -> None:
    lock = Lock({"tabular-helpers": pin("tabular-helpers", "1.0.0", whl("numpy", "2.4.5"),
                                        whl("cycler", "0.12.1", B, ("model", "plots")))})
    assert closure_rows(lock, "Tabular_Helpers") == [
        ("cycler", "0.12.1", "cycler-0.12.1-py3-none-any.whl", B[:12], "model, plots"),
        ("numpy", "2.4.5", "numpy-2.4.5-py3-none-any.whl", A[:12], "-"),
    ]
    assert pins_rows(lock)[0][-1] == "2"
    with pytest.raises(LockError, match="pinned helpers: tabular-helpers"):
        closure_rows(lock, "vision-helpers")
    with pytest.raises(LockError, match="no locked closure"):
        closure_rows(Lock({"x": pin("x", "1.0")}), "x")


def test_diff_rows_name_each_moved_distribution() -> None:
    old = pin("tabular-helpers", "1.0.0", whl("numpy", "2.4.5"), whl("bar", "2.0"), whl("six", "1.17.0"),
              whl("tzdata", "2026.6"))
    new = pin("tabular-helpers", "1.1.0", whl("numpy", "2.4.6"), whl("foo", "1.0"), whl("six", "1.17.0"),
              whl("tzdata", "2026.6", B))
    rows = diff_rows(old, new)
    assert rows == [("bar", "2.0", "-"), ("foo", "-", "1.0"), ("numpy", "2.4.5", "2.4.6"),
                    ("tzdata", "2026.6", "2026.6")]
    assert diff_lines("tabular-helpers", "1.0.0", "1.1.0", rows) == [
        "- bar 2.0", "+ foo 1.0", "numpy 2.4.5 -> 2.4.6", "tzdata 2026.6 -> 2026.6 (other file)",
        "tabular-helpers 1.0.0 -> 1.1.0: 4 moved (2 changed, 1 added, 1 removed)",
    ]
    assert diff_lines("x", "1", "2", diff_rows(old, old)) == ["x 1 -> 2: no dependency moved"]
    with pytest.raises(LockError, match="no locked closure"):
        diff_rows(pin("tabular-helpers", "0.9.0"), new)


# -- the lock's git history -----------------------------------------------------------------------

def commit_lock(root: Path, lock: Lock, message: str) -> None:
    save_lock(root / "pins.json", lock)
    git(root, "add", "pins.json")
    git(root, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qm", message)


def test_diff_finds_versions_in_the_git_history(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit_lock(root, Lock({"tabular-helpers": pin("tabular-helpers", "0.9.0")}), "before closures")
    commit_lock(root, Lock({"tabular-helpers": pin("tabular-helpers", "1.0.0", whl("numpy", "2.4.5"))}), "1.0")
    (root / "pins.json").write_text("{ broken")  # a committed unreadable lock is skipped
    git(root, "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qam", "broken")
    commit_lock(root, Lock({"tabular-helpers": pin("tabular-helpers", "1.1.0", whl("numpy", "2.4.6"),
                                                   whl("foo", "1.0"))}), "1.1")
    save_lock(root / "pins.json", Lock({"tabular-helpers": pin("tabular-helpers", "1.2.0", whl("numpy", "2.4.6"))}))

    assert find_pin(root, "tabular-helpers", "1.0").closure == (whl("numpy", "2.4.5"),)
    assert diff_pins(root, "tabular-helpers", "1.0.0") == [  # TO: the working tree's 1.2.0
        "numpy 2.4.5 -> 2.4.6", "tabular-helpers 1.0.0 -> 1.2.0: 1 moved (1 changed, 0 added, 0 removed)",
    ]
    assert diff_pins(root, "tabular-helpers", "1.1.0", "1.0.0")[:2] == ["- foo 1.0", "numpy 2.4.6 -> 2.4.5"]
    with pytest.raises(LockError, match=r"2\.0\.0 is in neither .* found: 0\.9\.0, 1\.0\.0, 1\.1\.0, 1\.2\.0$"):
        diff_pins(root, "tabular-helpers", "2.0.0")
    with pytest.raises(LockError, match=r"before closures were locked.* 1\.0\.0, 1\.1\.0, 1\.2\.0$"):
        diff_pins(root, "tabular-helpers", "0.9.0")


# -- the session's release (wheels and closures, no images) in its real registry ------------------


def test_check_passes_on_a_released_lock_and_names_a_bad_closure_file(released: Released) -> None:
    lock = load_lock(released.root / "pins.json")
    vision = lock.require("vision-helpers", fix="-")
    assert check_pins(lock, download=True) == []
    assert closure_file_count(lock) >= len(vision.closure) > 0

    bad = next(f for f in vision.closure if f.name == "numpy")
    altered = vision.with_closure(tuple(
        dataclasses.replace(f, sha256="0" * 64) if f == bad else f for f in vision.closure
    ))
    problems = check_pins(lock.with_pin(altered))
    assert [(p.name, bad.filename in p.message, "lock has 000000" in p.message) for p in problems] == [
        ("vision-helpers", True, True)
    ]

    gone = vision.with_closure((*vision.closure, whl("nothere", "1.0")))
    problems = check_pins(lock.with_pin(gone))
    assert [p.message for p in problems] == [
        f"closure file nothere-1.0-py3-none-any.whl is not in the index {vision.index_url}"
    ]

    problems = check_pins(lock.with_pin(vision.with_closure(())))
    assert len(problems) == 1 and "no locked closure; re-run `make release PACKAGE=vision-helpers`" in (
        problems[0].message
    )


def test_bump_locks_the_closure_the_release_locked(released: Released, tmp_path: Path) -> None:
    lock = load_lock(released.root / "pins.json")
    original = lock.require("vision-helpers", fix="-")
    lock_path = tmp_path / "pins.json"
    save_lock(lock_path, lock.with_pin(original.with_closure(())))
    bumped = bump_pin(lock_path, "vision-helpers", original.version, released.index.settings, None,
                      set(discover(released.root)), original.kfp_version).pin
    assert bumped.closure == original.closure
    assert load_lock(lock_path).require("vision-helpers", fix="-").closure == original.closure


def test_cli_shows_and_checks_the_closure(released: Released) -> None:
    hub = [sys.executable, "-m", "helperhub", "pins"]
    env = {**os.environ, "COLUMNS": "250"}
    out = subprocess.run([*hub, "show", "--closure", "vision-helpers", "--root", str(released.root)],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert "tabular_helpers-1.0.0-py3-none-any.whl" in out.stdout + out.stderr
    out = subprocess.run([*hub, "check", "--root", str(released.root)], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    count = closure_file_count(load_lock(released.root / "pins.json"))
    assert f"2 pins and {count} closure files (listed) verified" in out.stdout + out.stderr
