"""Yanked versions (PEP 592): a version is yanked as a whole, with an optional reason. Installers
skip a yanked version for a range and still install it for ``==``, so pins keep working.

Kept beside the packages in ``.helperhub-yanks.json`` (canonical project -> version, as the files
spell it -> reason, "" for none), replaced atomically on every change."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from packaging.version import InvalidVersion, Version

from helperhub.core.errors import ConfigError
from helperhub.core.fs import atomic_write_text

YANKS = ".helperhub-yanks.json"


class Yanks:
    def __init__(self, root: Path) -> None:
        self.path = root / YANKS
        self._lock = threading.Lock()
        self._yanked: dict[str, dict[str, str]] = _read(self.path)

    def of(self, project: str) -> dict[str, str]:
        """Version -> reason of the project's yanked versions."""
        return dict(self._yanked.get(project, {}))

    def all(self) -> dict[str, dict[str, str]]:
        return {p: dict(v) for p, v in self._yanked.items()}

    def set(self, project: str, version: Version, reason: str | None) -> dict[str, str]:
        """Yank (``reason`` a string, "" for none) or unyank (None) one version; the project's yanks."""
        with self._lock:
            versions = {v: r for v, r in self._yanked.get(project, {}).items() if not _same(v, version)}
            if reason is not None:
                versions[str(version)] = reason
            updated = {**self._yanked, project: versions}
            if not versions:
                del updated[project]
            atomic_write_text(self.path, json.dumps(updated, indent=1, sort_keys=True) + "\n")
            self._yanked = updated
            return dict(versions)


def _same(text: str, version: Version) -> bool:
    try:
        return Version(text) == version
    except InvalidVersion:
        return False


def _read(path: Path) -> dict[str, dict[str, str]]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        raise ConfigError(f"{path} is not valid JSON; restore it from a backup or fix it by hand") from None
    if not isinstance(raw, dict):
        return {}
    return {str(p): {str(v): str(r) for v, r in vs.items()} for p, vs in raw.items() if isinstance(vs, dict)}
