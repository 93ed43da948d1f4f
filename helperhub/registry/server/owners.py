"""Who may release (upload to, or yank) a project: teams own their names.

An owners file (``--owners``, TOML) maps project-name globs, matched with fnmatch against the
canonical name, to users of the htpasswd file::

    [owners]
    "tabular-*" = ["alice"]
    "vision-helpers" = ["alice", "bob"]

A project that matches one or more globs belongs to the users of all of them. A project that
matches none is claimed by its first uploader, recorded beside the packages
(``.helperhub-owners.json``); without an owners file every project is owned that way. The file is
re-read when it changes, so owners are added while the registry runs. Its optional ``[admins]``
table (``users = ["root"]``) names who may run retention (``registry gc``) and change any
registered lock; so do the users of ``--admin``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from packaging.utils import canonicalize_name

from helperhub.core.errors import ConfigError
from helperhub.core.fs import atomic_write_text
from helperhub.registry.server.notes import load_record

CLAIMS = ".helperhub-owners.json"


@dataclass(frozen=True)
class Ownership:
    users: tuple[str, ...]
    source: str  # "owners file" or "first upload"; "" when nobody owns the project yet

    def allows(self, user: str) -> bool:
        return not self.source or user in self.users

    def refusal(self, project: str, verb: str) -> str:
        """The one-line answer to a user who is not among the owners."""
        if not self.users:
            return (f"{project} belongs to nobody in the registry's owners file; "
                    f"ask its administrators to add you to it to {verb} it")
        return (f"{project} belongs to {', '.join(self.users)}; ask one of them to {verb} it, "
                "or to add you to the owners file")


def parse_owners(text: str, source: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(canonical glob, users) pairs of an owners file; ConfigError naming what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML ({exc}); fix it or leave --owners out") from None
    table = data.get("owners")
    extra = sorted(set(data) - {"owners", "admins"})
    if not isinstance(table, dict) or extra:
        raise ConfigError(f"{source} must hold one [owners] table of \"glob\" = [\"user\", ...] "
                          f"(found {', '.join(extra) or 'no [owners]'})")
    rules: list[tuple[str, tuple[str, ...]]] = []
    for glob, users in table.items():
        if not isinstance(users, list) or not all(isinstance(u, str) and u.strip() for u in users):
            raise ConfigError(f"{source}: owners of {glob!r} must be a list of user names, like [\"alice\"]")
        rules.append((canonicalize_name(glob), tuple(u.strip() for u in users)))
    return tuple(rules)


def parse_admins(text: str, source: str) -> frozenset[str]:
    """The users of an owners file's optional ``[admins]`` table (``users = ["root"]``)."""
    table = tomllib.loads(text).get("admins")
    if table is None:
        return frozenset()
    users = table.get("users") if isinstance(table, dict) and set(table) == {"users"} else None
    if not isinstance(users, list) or not all(isinstance(u, str) and u.strip() for u in users):
        raise ConfigError(f'{source}: [admins] must be users = ["name", ...]')
    return frozenset(u.strip() for u in users)


class OwnersFile:
    """The owners file, re-read when it changes; a change that does not parse keeps the last good
    rules (and says so on stderr) rather than open or close every project at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._stamp = self._stat()
        except OSError:
            raise ConfigError(f"owners file {path} cannot be read; create it or leave --owners out") from None
        self.rules, self.admins = _parse(path.read_text(encoding="utf-8"), str(path))

    def _stat(self) -> tuple[int, int, int]:
        st = os.stat(self.path)
        return st.st_ino, st.st_size, st.st_mtime_ns

    def current(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        with self._lock:
            try:
                stamp = self._stat()
                if stamp != self._stamp:
                    self._stamp = stamp
                    self.rules, self.admins = _parse(self.path.read_text(encoding="utf-8"), str(self.path))
            except (OSError, ConfigError) as exc:
                print(f"owners file unchanged in effect: {exc}", file=sys.stderr)
            return self.rules


def _parse(text: str, source: str) -> tuple[tuple[tuple[str, tuple[str, ...]], ...], frozenset[str]]:
    rules = parse_owners(text, source)
    return rules, parse_admins(text, source)


class Owners:
    """The owners file's rules, then the first-upload claims."""

    def __init__(self, root: Path, owners_file: Path | None) -> None:
        self.file = OwnersFile(owners_file) if owners_file is not None else None
        self.admins: frozenset[str] = frozenset()  # --admin users, beside the file's [admins]
        self.claims_path = root / CLAIMS
        self._lock = threading.Lock()
        self._claims = _read_claims(self.claims_path)

    def of(self, project: str) -> Ownership:
        matched: list[str] = []
        found = False
        for glob, users in self.file.current() if self.file else ():
            if fnmatchcase(project, glob):
                found = True
                matched.extend(u for u in users if u not in matched)
        if found:
            return Ownership(tuple(matched), "owners file")
        claimed = self._claims.get(project)
        return Ownership((claimed,), "first upload") if claimed else Ownership((), "")

    def is_admin(self, user: str) -> bool:
        if user in self.admins:
            return True
        if self.file is None:
            return False
        self.file.current()
        return user in self.file.admins

    def claim(self, project: str, user: str) -> None:
        """Record ``user`` as the owner of an unowned project (called under the store's lock,
        before its first file is linked into place)."""
        with self._lock:
            if project in self._claims or self.of(project).source:
                return
            updated = {**self._claims, project: user}
            atomic_write_text(self.claims_path, json.dumps(updated, indent=1, sort_keys=True) + "\n")
            self._claims = updated


def _read_claims(path: Path) -> dict[str, str]:
    raw = load_record(path)
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must map project names to users; restore it from a backup")
    return {canonicalize_name(str(p)): str(u) for p, u in raw.items()}
