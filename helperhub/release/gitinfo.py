"""What a release needs from git beyond the commit: cleanliness and the release tag."""

from __future__ import annotations

from pathlib import Path

from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import GitError
from helperhub.core.git import run_git


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
