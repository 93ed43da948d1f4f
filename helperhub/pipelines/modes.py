"""The delivery modes, apart from what renders them: the CLI's choices need the names only."""

from __future__ import annotations

from enum import StrEnum


class Mode(StrEnum):
    """Released: ``image`` (baked image by digest), ``package`` (pip install at step start).
    Not yet released, from the working tree: ``embedded``, ``volume`` (PVC), ``configmap``."""

    IMAGE = "image"
    PACKAGE = "package"
    EMBEDDED = "embedded"
    VOLUME = "volume"
    CONFIGMAP = "configmap"

    @property
    def released(self) -> bool:
        return self in (Mode.IMAGE, Mode.PACKAGE)
