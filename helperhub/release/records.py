"""A release tells the index what it released: the version's lock entry and the files it mirrored
for it (``:action=record_release``). That record is what makes a project a helper on the index,
and marks the mirrored closure files as third-party, for the catalog, ``helpers list`` and feeds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from helperhub.core.errors import HubError
from helperhub.core.progress import Reporter
from helperhub.lock.lockfile import Lock, PackagePin
from helperhub.registry.client import IndexSettings, record_release_on_index


def pin_record(pin: PackagePin, lock: Lock) -> dict[str, Any]:
    """The record of a helper release: its lock entry, and the installers the lock pins beside it
    (mirrored for its steps, like its closure)."""
    tools = sorted(f.filename for files in lock.platform_tools.values() for f in files.values())
    return {"pin": pin.to_json(), "mirrored": tools}


def tool_record(version: str, wheel: str, sha256: str, mirrored: Iterable[str]) -> dict[str, Any]:
    """The record of the tool's own release: its wheel and the closure mirrored for it."""
    return {"pin": {"version": version, "wheel": wheel, "sha256": sha256}, "mirrored": sorted(mirrored)}


def record_on_index(index: IndexSettings, name: str, version: str, record: dict[str, Any], report: Reporter) -> None:
    """Send the record; the lock stays the source of truth, so an index that cannot take it (an
    older registry, no login) is a warning: the catalog then guesses from the files."""
    try:
        record_release_on_index(index, name, version, record)
    except HubError as exc:
        report.warn(f"the index has no record of {name} {version} (its catalog may list it as mirrored): {exc}")
