"""The helper image of each released version, by digest, for the catalog to show.

A release pushes its image after uploading the wheel, so the index cannot know the image at upload
time: the release reports it afterwards (``:action=set_image`` on the upload endpoint, by an owner
of the project). The lock stays the source of truth; this is what the catalog shows. Kept beside
the packages in ``.helperhub-images.json`` (canonical project -> version, as the files spell it ->
``repo@sha256:...``), replaced atomically on every change."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from packaging.version import InvalidVersion, Version

from helperhub.core.errors import ConfigError
from helperhub.core.fs import atomic_write_text
from helperhub.registry.validate import UploadRefused

IMAGES = ".helperhub-images.json"
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


class ImageRefs:
    def __init__(self, root: Path) -> None:
        self.path = root / IMAGES
        self._lock = threading.Lock()
        self._refs: dict[str, dict[str, str]] = _read(self.path)

    def of(self, project: str) -> dict[str, str]:
        """Version -> image reference of the project's versions that have one."""
        return dict(self._refs.get(project, {}))

    def all(self) -> dict[str, dict[str, str]]:
        return {p: dict(v) for p, v in self._refs.items()}

    def set(self, project: str, version: Version, ref: str) -> dict[str, str]:
        """Record ``ref`` as the image of one version (replacing what it had); the project's images."""
        with self._lock:
            versions = {v: r for v, r in self._refs.get(project, {}).items() if not _same(v, version)}
            versions[str(version)] = ref
            updated = {**self._refs, project: versions}
            atomic_write_text(self.path, json.dumps(updated, indent=1, sort_keys=True) + "\n")
            self._refs = updated
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
