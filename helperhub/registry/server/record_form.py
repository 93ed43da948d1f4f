"""``:action=record_release``: an owner records a release's lock entry on the index (records.py)."""

from __future__ import annotations

from collections.abc import Mapping

from helperhub.registry.server.records import parse_release_record
from helperhub.registry.server.store import HardenedBackend
from helperhub.registry.server.validate import UploadRefused


def record_release(backend: HardenedBackend, fields: Mapping[str, str], user: str) -> str:
    """Store the record an ``:action=record_release`` form carries (an owner's); the answer."""
    if not all(fields.get(k, "").strip() for k in ("name", "version", "record")):
        raise UploadRefused('a record_release form has the fields name, version and record '
                            '({"pin": {...lock entry...}, "mirrored": [...]}), and no file')
    project, version = backend.owned_release(fields["name"], fields["version"].strip(), user)
    record = parse_release_record(fields["record"], project, str(version))
    changed = backend.records.put(project, str(version), record)
    for name in sorted(changed):
        backend.catalog.changed(name)
    return f"{project} {version} recorded" if changed else f"{project} {version} already recorded"
