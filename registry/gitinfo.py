"""What a release needs from git: the commit, its time, cleanliness and the release tag."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .errors import GitError
from .lock import LOCK_NAME


def _git(root: Path, *args: str) -> str:
    try:
        proc = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    except FileNotFoundError:
        raise GitError("git is not installed; install git to release") from None
    if proc.returncode != 0:
        msg = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise GitError(f"`git {' '.join(args)}` failed in {root}: {msg[0]}")
    return proc.stdout.strip()


def repo_root(start: Path) -> Path:
    try:
        return Path(_git(start, "rev-parse", "--show-toplevel"))
    except GitError:
        raise GitError(f"{start} is not inside a git checkout; release from a clone") from None


def head_commit(root: Path) -> str:
    try:
        return _git(root, "rev-parse", "HEAD")
    except GitError:
        raise GitError(f"{root} has no commit yet; commit the helper sources first") from None


def source_epoch(root: Path, path: Path) -> int:
    """SOURCE_DATE_EPOCH: the time of the last commit touching ``path``, so unrelated commits
    do not change the bytes of a wheel."""
    out = _git(root, "log", "-1", "--format=%ct", "--", str(path))
    if not out:
        raise GitError(f"{path} has no commit yet; commit it before releasing")
    return int(out)


def dirty_paths(root: Path) -> list[str]:
    """Changed or untracked files, except the lock that releases themselves write."""
    out = _git(root, "status", "--porcelain", "--untracked-files=normal")
    paths = [line[3:] for line in out.splitlines() if line]
    return [p for p in paths if p.strip('"') != LOCK_NAME]


def ensure_clean(root: Path) -> None:
    dirty = dirty_paths(root)
    if dirty:
        shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
        raise GitError(
            f"the git tree has uncommitted changes ({shown}); commit them or pass --allow-dirty"
        )


def tag_release(root: Path, tag: str) -> bool:
    """Create the release tag at HEAD unless it exists; True if it was created."""
    if _git(root, "tag", "--list", tag):
        return False
    try:
        _git(root, "tag", tag)
    except GitError:
        if _git(root, "tag", "--list", tag):  # a concurrent release tagged it first
            return False
        raise
    return True
