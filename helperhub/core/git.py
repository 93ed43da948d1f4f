"""Run git: the commit, its time and the checkout root, for releases and image builds; whether
the tree is clean, and the release tag."""

from __future__ import annotations

import subprocess
from pathlib import Path

from helperhub.core.defaults import LOCK_NAME
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
    """The git checkout holding ``start`` (releases and ``pins diff`` read its history)."""
    try:
        return Path(run_git(start, "rev-parse", "--show-toplevel").strip())
    except GitError:
        raise GitError(f"{start} is not inside a git checkout; run from a clone") from None


def project_root(start: Path) -> Path:
    """The repository holding ``start``: its git checkout, else (a CI workspace unpacked from an
    archive, a plain folder) the nearest folder from ``start`` up that holds the lock or a
    ``pyproject.toml``, else ``start`` itself. Commands that only read and write the lock need no
    history."""
    try:
        return repo_root(start)
    except GitError:
        pass
    here = start.resolve()
    if not here.is_dir():
        raise GitError(f"{start} is not a folder; run from your repository, or give --root")
    for folder in (here, *here.parents):
        if (folder / LOCK_NAME).is_file() or (folder / "pyproject.toml").is_file():
            return folder
    return here


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


def parse_porcelain(out: str) -> list[str]:
    """Paths of ``git status --porcelain -z`` output (``XY path\\0``; a rename or copy is
    followed by its source path as one more entry, which is skipped)."""
    entries = out.split("\0")
    paths: list[str] = []
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        paths.append(entry[3:])
        if entry[0] in "RC":
            i += 1
    return paths


def dirty_paths(root: Path) -> list[str]:
    """Changed or untracked files, except the lock that releases themselves write."""
    out = run_git(root, "status", "--porcelain", "-z", "--untracked-files=normal")
    return [p for p in parse_porcelain(out) if p != LOCK_NAME]


def ensure_clean(root: Path) -> None:
    dirty = dirty_paths(root)
    if dirty:
        shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
        raise GitError(
            f"the git tree has uncommitted changes ({shown}); commit them or pass --allow-dirty"
        )


def tag_release(root: Path, tag: str) -> bool:
    """Create the release tag at HEAD unless it exists; True if it was created."""
    if run_git(root, "tag", "--list", tag).strip():
        return False
    try:
        run_git(root, "tag", tag)
    except GitError:
        if run_git(root, "tag", "--list", tag).strip():  # a concurrent release tagged it first
            return False
        raise
    return True
