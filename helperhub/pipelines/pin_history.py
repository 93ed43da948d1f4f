"""`pins diff`: which dependencies moved between two versions of a helper, each version's closure
taken from the working-tree lock or, for older versions, from the lock's git history."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import GitError, LockError
from helperhub.core.git import repo_root, run_git
from helperhub.lock.closure import moves
from helperhub.lock.lockfile import Lock, PackagePin, load_lock, parse_lock
from helperhub.release.versions import parse_version


def diff_rows(old: PackagePin, new: PackagePin) -> list[tuple[str, str, str]]:
    """(name, old version or '-', new version or '-') of each distribution whose locked file
    differs between two pins of a helper: what an upgrade really changes in the steps."""
    return moves(old.require_closure(), new.require_closure())


def diff_lines(name: str, old: str, new: str, rows: Sequence[tuple[str, str, str]]) -> list[str]:
    """One line per moved distribution, then a summary line."""
    lines = []
    for dist, before, after in rows:
        if before == "-":
            lines.append(f"+ {dist} {after}")
        elif after == "-":
            lines.append(f"- {dist} {before}")
        else:
            lines.append(f"{dist} {before} -> {after}" + (" (other file)" if before == after else ""))
    added = sum(1 for r in rows if r[1] == "-")
    removed = sum(1 for r in rows if r[2] == "-")
    changed = len(rows) - added - removed
    summary = (
        f"{len(rows)} moved ({changed} changed, {added} added, {removed} removed)" if rows
        else "no dependency moved"
    )
    return [*lines, f"{name} {old} -> {new}: {summary}"]


def lock_history(root: Path) -> Iterator[tuple[str, Lock]]:
    """The committed locks of the repository at ``root``, newest first, as (commit, lock). A
    commit whose lock is gone or unreadable (an older format) is skipped: it cannot be diffed."""
    repo_root(root)  # a clear error outside a checkout
    try:
        revs = run_git(root, "log", "--format=%H", "--", LOCK_NAME).split()
    except GitError:  # no commit yet: no history
        return
    for rev in revs:
        try:
            yield rev, parse_lock(run_git(root, "show", f"{rev}:./{LOCK_NAME}"), f"{LOCK_NAME} at {rev[:12]}")
        except (GitError, LockError):
            continue


def find_pin(root: Path, name: str, version: str) -> PackagePin:
    """The pin of ``name`` at ``version`` with a locked closure: the working-tree lock's, else
    the newest committed one (a version is pinned once, so the first found is the one)."""
    name, wanted = canonicalize_name(name), parse_version(version)
    seen: dict[str, bool] = {}  # version -> has a closure
    history = (lock for _, lock in lock_history(root))  # lazy: read only as far as needed
    for lock in itertools.chain([load_lock(root / LOCK_NAME)], history):
        pin = lock.get(name)
        if pin is None:
            continue
        if parse_version(pin.version) == wanted and pin.closure:
            return pin
        seen[pin.version] = seen.get(pin.version, False) or bool(pin.closure)
    if any(parse_version(v) == wanted for v in seen):
        with_closure = sorted((v for v, c in seen.items() if c), key=parse_version)
        raise LockError(
            f"{name} {version} was pinned before closures were locked; diff versions that have one: "
            f"{', '.join(with_closure) or 'none'}"
        )
    found = ", ".join(sorted(seen, key=parse_version)) or "none"
    raise LockError(f"{name} {version} is in neither {LOCK_NAME} nor its git history; versions found: {found}")


def diff_pins(root: Path, name: str, old: str, new: str | None = None) -> list[str]:
    """The lines of `pins diff`: ``new`` defaults to the working-tree lock's version of ``name``."""
    name = canonicalize_name(name)
    if new is None:
        new = load_lock(root / LOCK_NAME).require(name, fix=f"helperhub pins diff {name} {old} VERSION").version
    before, after = find_pin(root, name, old), find_pin(root, name, new)
    return diff_lines(name, before.version, after.version, diff_rows(before, after))
