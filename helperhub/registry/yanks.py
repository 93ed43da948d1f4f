"""Yanked versions (PEP 592): a version is yanked as a whole, with an optional reason. Installers
skip a yanked version for a range and still install it for ``==``, so pins keep working.

Kept beside the packages in ``.helperhub-yanks.json`` (canonical project -> version, as the files
spell it -> reason, "" for none), replaced atomically on every change."""

from __future__ import annotations

from pathlib import Path

from helperhub.registry.notes import VersionNotes

YANKS = ".helperhub-yanks.json"


class Yanks(VersionNotes):
    """Version -> reason ("" for none) of each project's yanked versions; ``set(..., None)`` unyanks."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / YANKS)
