"""`pins diff`: which dependencies moved between two versions of a helper, each version's closures
taken from the working-tree lock or, for older versions, from the lock's git history.

Closures are compared per target and platform both versions have; a pin with only the target
``default`` on linux/amd64 (one from before targets) diffs as it always did."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from helperhub.core import defaults
from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import GitError, LockError
from helperhub.core.git import repo_root, run_git
from helperhub.lock.closure import LockedFile, moves
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


def diff_pins(root: Path, name: str, old: str, new: str | None = None, target: str | None = None) -> list[str]:
    """The lines of `pins diff`: ``new`` defaults to the working-tree lock's version of ``name``;
    ``target``: only that target (None: every target both versions have)."""
    name = canonicalize_name(name)
    if new is None:
        new = load_lock(root / LOCK_NAME).require(name, fix=f"helperhub pins diff {name} {old} VERSION").version
    before, after = find_pin(root, name, old), find_pin(root, name, new)
    return target_diff_lines(before, after, target)


def shared_closures(old: PackagePin, new: PackagePin, target: str | None = None) -> list[tuple[str, str]]:
    """(target, platform) of each closure both pins lock, ``default`` first; none shared (a pin
    from before targets and one released for declared targets): their default targets' first
    platforms, compared as the closures steps install unless they pick a target."""
    if target is not None:
        have = [t for t in (old, new) if target not in t.targets]
        if have:
            raise LockError(f"{have[0].name} {have[0].version} has no target {target!r}; it has "
                            f"{', '.join(have[0].targets) or 'none'}")
    names = [target] if target else sorted(set(old.targets) & set(new.targets),
                                           key=lambda t: (t != defaults.TARGET_NAME, t))
    pairs = [(t, p) for t in names for p in new.targets[t].platforms if p in old.targets[t].closure]
    return pairs or ([] if target else [(old.default_target, "")])


def target_diff_lines(old: PackagePin, new: PackagePin, target: str | None = None) -> list[str]:
    """One block per target and platform both pins have (a block is ``diff_lines``'s, its summary
    naming the target and platform unless it is the only target before targets), and a line per
    target only one of them has."""
    pairs = shared_closures(old, new, target)
    if not pairs:
        raise LockError(f"target {target} of {new.name} {old.version} and {new.version} shares no platform; "
                        f"{old.version} has {', '.join(old.targets[str(target)].platforms) or 'none'}")
    if pairs == [(defaults.TARGET_NAME, defaults.TARGET_PLATFORM)] and set(old.targets) == set(new.targets):
        return diff_lines(new.name, old.version, new.version, diff_rows(old, new))
    lines: list[str] = []
    if pairs == [(old.default_target, "")]:  # nothing in common: the default targets
        before, after = old.require_target(), new.require_target()
        lines.append(f"no target in common: comparing {old.default_target} of {old.version} "
                     f"with {new.default_target} of {new.version}")
        rows = moves(_files(old, before.files()), _files(new, after.files()))
        return [*lines, *diff_lines(new.name, old.version, new.version, rows)]
    if target is None:
        lines += [f"- target {t} (only in {old.version})" for t in sorted(set(old.targets) - set(new.targets))]
        lines += [f"+ target {t} (only in {new.version})" for t in sorted(set(new.targets) - set(old.targets))]
    for name, platform in pairs:
        rows = moves(old.targets[name].closure[platform], new.targets[name].closure[platform])
        block = diff_lines(new.name, old.version, new.version, rows)
        lines += [*block[:-1], f"{block[-1]} [{name} {platform}]"]
    return lines


def _files(pin: PackagePin, files: tuple[LockedFile, ...]) -> tuple[LockedFile, ...]:
    if not files:
        pin.require_closure()  # the error of a pin from before closures were locked
    return files
