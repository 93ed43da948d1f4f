"""The helper image of each released version, by digest, for the catalog to show.

A release pushes its image after uploading the wheel, so the index cannot know the image at upload
time: the release reports it afterwards (``:action=set_image`` on the upload endpoint, by an owner
of the project). The lock stays the source of truth; this is what the catalog shows. Kept beside
the packages in ``.helperhub-images.json`` (canonical project -> version, as the files spell it ->
``repo@sha256:...``), replaced atomically on every change."""

from __future__ import annotations

import re
from pathlib import Path

from helperhub.registry.notes import VersionNotes
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


class ImageRefs(VersionNotes):
    """Version -> ``repo@sha256:...`` of each project's versions that have an image."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / IMAGES)
