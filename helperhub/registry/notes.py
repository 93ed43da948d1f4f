"""Small durable records beside the packages: per project, a note per version (a yank reason, an
image reference), in one JSON file replaced atomically on every change."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from pathlib import Path

from packaging.version import InvalidVersion, Version

from helperhub.core.errors import ConfigError
from helperhub.core.fs import atomic_write_text


def load_record(path: Path) -> object:
    """The JSON a record file holds; None when there is none yet. A damaged file stops the
    registry with one line instead of being taken for an empty one (that would drop yanks, claims)."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        raise ConfigError(f"{path} is not valid JSON; restore it from a backup or fix it by hand") from None


class VersionNotes:
    """Canonical project -> version (as its files spell it) -> note."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        raw = load_record(path)
        self._notes: dict[str, dict[str, str]] = {
            str(p): {str(v): str(n) for v, n in vs.items()}
            for p, vs in (raw.items() if isinstance(raw, dict) else ()) if isinstance(vs, dict)
        }

    def of(self, project: str) -> dict[str, str]:
        """Version -> note of the project's versions that have one."""
        return dict(self._notes.get(project, {}))

    def all(self) -> dict[str, dict[str, str]]:
        return {p: dict(v) for p, v in self._notes.items()}

    def set(self, project: str, version: Version, note: str | None) -> dict[str, str]:
        """Give one version ``note`` (replacing what it had; None removes it); the project's notes."""
        with self._lock:
            versions = {v: n for v, n in self._notes.get(project, {}).items() if not _same(v, version)}
            if note is not None:
                versions[str(version)] = note
            updated = {**self._notes, project: versions}
            if not versions:
                del updated[project]
            atomic_write_text(self.path, json.dumps(updated, indent=1, sort_keys=True) + "\n")
            self._notes = updated
            return dict(versions)


def by_version(notes: Mapping[str, str]) -> dict[Version, str]:
    """Notes keyed by version, so that 1.1 and 1.1.0 are one version however a file name spells it."""
    found: dict[Version, str] = {}
    for text, note in notes.items():
        try:
            found[Version(text)] = note
        except InvalidVersion:
            continue
    return found


def _same(text: str, version: Version) -> bool:
    try:
        return Version(text) == version
    except InvalidVersion:
        return False
