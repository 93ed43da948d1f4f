"""Run git: the commit, its time and the checkout root, for releases and image builds."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helperhub.core.errors import GitError


def run_git(root: Path, *args: str) -> str:
    """git's stdout as it is (not stripped: leading spaces can be data, as in ``--porcelain``)."""
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    except FileNotFoundError:
        raise GitError("git is not installed; install git to release") from None
    if proc.returncode != 0:
        msg = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise GitError(f"`git {' '.join(args)}` failed in {root}: {msg[0]}")
    return proc.stdout


def repo_root(start: Path) -> Path:
    try:
        return Path(run_git(start, "rev-parse", "--show-toplevel").strip())
    except GitError:
        raise GitError(f"{start} is not inside a git checkout; run from a clone") from None


def head_commit(root: Path) -> str:
    try:
        return run_git(root, "rev-parse", "HEAD").strip()
    except GitError:
        raise GitError(f"{root} has no commit yet; commit the sources first") from None


def source_epoch(root: Path, path: Path) -> int:
    """SOURCE_DATE_EPOCH: the time of the last commit touching ``path``, so unrelated commits
    do not change the bytes of a wheel."""
    out = run_git(root, "log", "-1", "--format=%ct", "--", str(path)).strip()
    if not out:
        raise GitError(f"{path} has no commit yet; commit it before releasing")
    return int(out)
