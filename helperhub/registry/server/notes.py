"""Small durable records beside the packages: per project, a note per version, in one JSON file
replaced atomically on every change.

- Yanks (PEP 592, ``.helperhub-yanks.json``): a version is yanked as a whole, with an optional
  reason. Installers skip a yanked version for a range and still install it for ``==``, so pins
  keep working.
- Images (``.helperhub-images.json``): the helper image of each released version, by digest, for
  the catalog to show. A release pushes its image after uploading the wheel, so the index cannot
  know it at upload time: the release reports it afterwards (``:action=set_image``, by an owner of
  the project). The lock stays the source of truth; this is what the catalog shows."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path

from packaging.version import InvalidVersion, Version

from helperhub.core.errors import ConfigError
from helperhub.core.fs import atomic_write_text
from helperhub.registry.server.validate import UploadRefused

YANKS = ".helperhub-yanks.json"
IMAGES = ".helperhub-images.json"


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


class Yanks(VersionNotes):
    """Version -> reason ("" for none) of each project's yanked versions; ``set(..., None)`` unyanks."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / YANKS)


MAX_REF = 512  # a registry host, a repository path and a digest fit well within it
_DOMAIN = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"  # the OCI distribution spec's path component
IMAGE_REF = re.compile(rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*@sha256:[0-9a-f]{{64}}")


def check_image_ref(text: str) -> str:
    """An image reference by digest (``registry:5000/repo@sha256:<64 hex>``), or UploadRefused."""
    ref = text.strip()
    if len(ref) > MAX_REF or not IMAGE_REF.fullmatch(ref):
        shown = ref if len(ref) <= 80 else ref[:80] + "..."
        raise UploadRefused(f"{shown!r} is not an image by digest; give one like "
                            "registry.example:5000/tabular-helpers@sha256:<64 hex digits>")
    return ref


class ImageRefs(VersionNotes):
    """Version -> ``repo@sha256:...`` of each project's versions that have an image."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / IMAGES)
