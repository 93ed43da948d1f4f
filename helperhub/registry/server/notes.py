"""Small durable records beside the packages: per project, a note per version, in one JSON file
replaced atomically on every change.

- Yanks (PEP 592, ``.helperhub-yanks.json``): a version is yanked as a whole, with an optional
  reason. Installers skip a yanked version for a range and still install it for ``==``, so pins
  keep working.
- Images (``.helperhub-images.json``): the helper images of each released version, one per target
  (``default``, ``py313``, ...), by digest, for the catalog to show. A release pushes its images
  after uploading the wheel, so the index cannot know them at upload time: the release reports each
  afterwards (``:action=set_image``, by an owner of the project). The lock stays the source of
  truth; this is what the catalog shows. A file written before targets (version -> ref) reads as
  the target ``default``."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from packaging.version import InvalidVersion, Version

from helperhub.core.defaults import TARGET_NAME
from helperhub.core.errors import ConfigError
from helperhub.core.fs import atomic_write_text
from helperhub.core.targets import NAME_PATTERN
from helperhub.registry.server.validate import UploadRefused

YANKS = ".helperhub-yanks.json"
IMAGES = ".helperhub-images.json"
N = TypeVar("N")


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


def by_version(notes: Mapping[str, N]) -> dict[Version, N]:
    """Notes keyed by version, so that 1.1 and 1.1.0 are one version however a file name spells it."""
    found: dict[Version, N] = {}
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


def check_target_name(text: str) -> str:
    """A target name as ``[tool.helperhub.targets.<name>]`` allows it, or UploadRefused."""
    name = text.strip()
    if len(name) > 64 or not NAME_PATTERN.fullmatch(name):
        shown = name if len(name) <= 80 else name[:80] + "..."
        raise UploadRefused(f"{shown!r} is not a target name; give one like py313 ({NAME_PATTERN.pattern})")
    return name


TargetRefs = dict[str, str]  # target -> repo@sha256:...


class ImageRefs:
    """Canonical project -> version (as its files spell it) -> target -> ``repo@sha256:...``."""

    def __init__(self, root: Path) -> None:
        self.path = root / IMAGES
        self._lock = threading.Lock()
        raw = load_record(self.path)
        self._refs: dict[str, dict[str, TargetRefs]] = {
            str(p): {str(v): _targets(refs) for v, refs in vs.items()}
            for p, vs in (raw.items() if isinstance(raw, dict) else ()) if isinstance(vs, dict)
        }

    def of(self, project: str) -> dict[str, TargetRefs]:
        """Version -> target -> image of the project's versions that have one."""
        return {v: dict(refs) for v, refs in self._refs.get(project, {}).items()}

    def all(self) -> dict[str, dict[str, TargetRefs]]:
        return {p: self.of(p) for p in self._refs}

    def set(self, project: str, version: Version, ref: str, target: str = TARGET_NAME) -> dict[str, TargetRefs]:
        """Record the image of ``target`` of one version (replacing that target's); the project's images.
        A version spelt otherwise before (1.1 and 1.1.0) keeps its other targets, under this spelling."""
        with self._lock:
            versions = dict(self._refs.get(project, {}))
            merged: TargetRefs = {}
            for text in [v for v in versions if _same(v, version)]:
                merged.update(versions.pop(text))
            versions[str(version)] = dict(sorted({**merged, target: ref}.items()))
            updated = {**self._refs, project: versions}
            atomic_write_text(self.path, json.dumps(updated, indent=1, sort_keys=True) + "\n")
            self._refs = updated
            return {v: dict(refs) for v, refs in versions.items()}


def _targets(refs: object) -> TargetRefs:
    """A version's images as recorded: target -> ref; a plain ref (a file from before targets) is
    the target ``default``'s."""
    if isinstance(refs, dict):
        return {str(t): str(r) for t, r in refs.items()}
    return {TARGET_NAME: str(refs)}
