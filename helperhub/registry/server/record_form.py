"""``:action=record_release``: an owner records a release's lock entry on the index (records.py);
``:action=record_mirror``: an owner says which files it mirrored for an environment, no release's."""

from __future__ import annotations

import json
from collections.abc import Mapping

from pypiserver.pkg_helpers import guess_pkgname_and_version

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


MAX_MIRRORED = 1000  # file names in one record_mirror form


def record_mirror(backend: HardenedBackend, fields: Mapping[str, str], user: str) -> str:
    """Mark the files an ``:action=record_mirror`` form names (each of a project ``user`` owns) as
    mirrored: the catalog then counts their projects as third-party, not as helpers; the answer."""
    shape = "a record_mirror form has the field files, a JSON list of the file names mirrored, and no file"
    try:
        names = json.loads(fields.get("files", ""))
    except ValueError:
        raise UploadRefused(shape) from None
    if not isinstance(names, list) or not names or len(names) > MAX_MIRRORED or not all(
            isinstance(n, str) and n and "/" not in n for n in names):
        raise UploadRefused(shape)
    for name in names:
        guessed = guess_pkgname_and_version(name)
        if not guessed:
            raise UploadRefused(f"{name[:80]!r} is not the name of a distribution file")
        backend.owned_release(guessed[0], guessed[1], user)  # an owner's, and on the index
    moved = backend.records.mark_mirrored(names)
    for project in sorted(moved):
        backend.catalog.changed(project)
    return f"{len(names)} files recorded as mirrored"
