"""Deleted files: ``.gone.json`` beside the packages says, per file name, which version it was,
why it was deleted, when and by whom. It is written before a single file is unlinked, so a delete
is either not begun or finished at the next start (``finish``); a deleted name answers 410 Gone
with its reason, and is never uploaded again. Every delete is appended to ``.audit.jsonl``.

Image manifests are deleted by ``helperhub registry gc --apply`` in the OCI registry (the index
does not reach it): ``.images-gone.json`` holds those the index decided to delete until the
command reports them gone, so an interrupted run is finished by the next one."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from helperhub.core.fs import atomic_write_text
from helperhub.registry.server.metadata import METADATA_SUFFIX, fsync_dir, metadata_path
from helperhub.registry.server.notes import load_record

GONE = ".gone.json"
IMAGES_GONE = ".images-gone.json"
AUDIT = ".audit.jsonl"
PROVENANCE_SUFFIX = ".provenance.json"


@dataclass(frozen=True)
class Gone:
    file: str
    project: str
    version: str
    reason: str
    deleted_at: str
    by: str
    size: int

    def record(self) -> dict[str, str | int]:
        return {"project": self.project, "version": self.version, "reason": self.reason,
                "deleted_at": self.deleted_at, "by": self.by, "size": self.size}


class Ledger:
    """Deletes by name (a file, or an image ``repo@sha256:...``), kept in one JSON file."""

    def __init__(self, root: Path, name: str) -> None:
        self.root = root
        self.path = root / name
        self._lock = threading.Lock()
        raw = load_record(self.path)
        self._gone: dict[str, Gone] = {
            str(name): Gone(str(name), str(v["project"]), str(v["version"]), str(v["reason"]),
                            str(v["deleted_at"]), str(v["by"]), int(v.get("size", 0)))
            for name, v in (raw.items() if isinstance(raw, dict) else ())
        }

    def names(self) -> set[str]:
        return set(self._gone)

    def entries(self) -> list[Gone]:
        return [self._gone[n] for n in sorted(self._gone)]

    def add(self, entries: Iterable[Gone]) -> None:
        """Record deletes (durably) before any of them is carried out."""
        added = {g.file: g for g in entries}
        if added:
            with self._lock:
                self._save({**self._gone, **added})

    def _save(self, updated: dict[str, Gone]) -> None:
        atomic_write_text(self.path, json.dumps({n: g.record() for n, g in sorted(updated.items())}, indent=1) + "\n")
        self._gone = updated

    def audit(self, entries: Iterable[Gone], key: str = "file") -> None:
        """Append the deletes to the audit log beside the packages, synced."""
        lines = "".join(json.dumps({key: g.file, **g.record()}, sort_keys=True) + "\n" for g in entries)
        fd = os.open(self.root / AUDIT, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, lines.encode())
            os.fsync(fd)
        finally:
            os.close(fd)


class Tombstones(Ledger):
    def __init__(self, root: Path) -> None:
        super().__init__(root, GONE)

    def reason(self, name: str) -> Gone | None:
        """The tombstone of a served name: a file, its ``.metadata`` or its ``.provenance.json``."""
        for suffix in ("", METADATA_SUFFIX, PROVENANCE_SUFFIX):
            if name.endswith(suffix) and (gone := self._gone.get(name[:len(name) - len(suffix)])):
                return gone
        return None


class PendingImages(Ledger):
    """Image manifests decided deleted that the OCI registry may still hold."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, IMAGES_GONE)

    def done(self, refs: Iterable[str]) -> list[Gone]:
        """Forget the images the OCI registry no longer holds; they go to the audit log."""
        with self._lock:
            finished = [self._gone[r] for r in sorted(set(refs)) if r in self._gone]
            if finished:
                self.audit(finished, key="image")
                self._save({n: g for n, g in self._gone.items() if n not in {g.file for g in finished}})
        return finished


def unlink_stored(root: Path, names: Iterable[str]) -> None:
    """Remove deleted files with what is served beside them (metadata files, provenance)."""
    from helperhub.registry.server.attestations import provenance_path

    for name in names:
        (root / name).unlink(missing_ok=True)
        metadata_path(root, name).unlink(missing_ok=True)
        provenance_path(root, name).unlink(missing_ok=True)
    fsync_dir(root)


def finish(root: Path) -> int:
    """At a start, before the folder is listed: finish what a delete cut short left (its tombstone
    was written first): the versions whose files are still there lose their release records and
    SBOMs (a delete drops those before it unlinks the files), then the files. How many files were
    finished."""
    tombstones = Tombstones(root)
    left = [g for g in tombstones.entries() if (root / g.file).exists() or metadata_path(root, g.file).exists()]
    for project in {g.project for g in left}:
        drop_release_documents(root, project, {g.version for g in left if g.project == project})
    unlink_stored(root, [g.file for g in left])
    return len(left)


def drop_release_documents(root: Path, project: str, versions: set[str]) -> None:
    """Unlink the release records and SBOMs of deleted versions of ``project``, whatever spelling
    of a version they were stored under; the files a record listed are remembered as once
    mirrored first."""
    import shutil

    from helperhub.registry.server.attestations import ATTESTATIONS_DIR, HELPERS_DIR
    from helperhub.registry.server.records import RECORD_SUFFIX, RECORDS_DIR, add_unlisted, record_files
    from helperhub.registry.server.retention import same_version

    deleted = {same_version(v) for v in versions}

    def spelled(folder: Path, suffix: str) -> list[Path]:
        found = sorted(folder.iterdir()) if folder.is_dir() else []
        return [p for p in found if same_version(p.name.removesuffix(suffix)) in deleted]

    for sboms in spelled(root / ATTESTATIONS_DIR / HELPERS_DIR / project, ""):
        shutil.rmtree(sboms, ignore_errors=True)
    for record in spelled(root / RECORDS_DIR / project, RECORD_SUFFIX):
        try:
            listed = record_files(json.loads(record.read_bytes()))
        except (OSError, ValueError):
            listed = set()  # unreadable: nothing to remember
        add_unlisted(root / RECORDS_DIR, listed)
        record.unlink(missing_ok=True)
