"""How a store starts and catches up: what a start does before it serves (list the folder), and
what it does after, while reads are answered (read the record, hash what it lacks, extract missing
metadata files, render the pages whose stamps differ, rebuild the catalog). A mixin of the store
(store.py), which owns the state it works on."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TypeGuard

from packaging.utils import canonicalize_name
from pypiserver.pkg_helpers import guess_pkgname_and_version

from helperhub.core.fs import atomic_write_text, sha256_file
from helperhub.core.metadata import parse_core_metadata
from helperhub.registry.server.catalog.cache import CatalogCache
from helperhub.registry.server.catchup import CatchUpProgress
from helperhub.registry.server.metadata import (
    METADATA_DIR,
    METADATA_SUFFIX,
    FileFacts,
    metadata_path,
    parse_record,
    render_record,
    sha256_bytes,
    upload_time,
    write_metadata,
)
from helperhub.registry.server.notes import Yanks
from helperhub.registry.server.records import ReleaseRecords
from helperhub.registry.server.simple.cache import PageCache
from helperhub.registry.server.validate import UploadRefused, archive_metadata

RECORD = ".helperhub-sha256.json"
TEMP_PREFIX = ".upload-"
RECORD_EVERY = 5.0  # seconds: while rehashing a large folder, progress is saved this often


class Recovery:
    """The start and the catch-up of a store over ``root``."""

    root: Path
    _lock: threading.Lock
    _files: dict[str, FileFacts]
    _pending: dict[str, set[str]]  # project -> files whose facts are to come
    _recorded: dict[str, FileFacts] | None  # the record's facts, until the catch-up is done
    _hashed: bool  # some file's facts came from hashing it: the record is saved again
    _hashing: dict[str, threading.Lock]  # per project: the catch-up and a read never both hash it
    pages: PageCache
    catalog: CatalogCache
    records: ReleaseRecords
    yanks: Yanks
    progress: CatchUpProgress

    # -- state ----------------------------------------------------------------------------------
    def _load(self) -> None:
        """What a start needs before it serves, in time proportional to the folder's listing: drop
        unfinished temp files and list the files by project. Their facts come from the record (or,
        for a file it lacks, from hashing) in the catch-up, or at the first read of their project."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / METADATA_DIR).mkdir(exist_ok=True)
        for leftover in (self.root / METADATA_DIR).glob(f"{TEMP_PREFIX}*"):
            leftover.unlink(missing_ok=True)
        with os.scandir(self.root) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(TEMP_PREFIX):  # an upload that never finished
                    Path(entry.path).unlink(missing_ok=True)
                    continue
                if name.startswith(".") or not entry.is_file() or (project := _project_or_none(name)) is None:
                    continue
                self._pending.setdefault(project, set()).add(name)
        self.progress = CatchUpProgress(total=sum(map(len, self._pending.values())) + 1)
        self.pages.load({}, self.yanks.all(), names=self._pending)

    def _record_facts(self) -> dict[str, FileFacts]:
        """The record's facts by file name, read once (by the catch-up or the first read)."""
        with self._lock:
            if self._recorded is None:
                try:
                    self._recorded = parse_record((self.root / RECORD).read_text())
                except FileNotFoundError:
                    self._recorded = {}
            return self._recorded

    def ensure(self, project: str) -> None:
        """Know every file of ``project`` now (from the record, else by hashing it and reading its
        metadata): a read of a project the catch-up has not reached yet waits only for that one."""
        if project not in self._pending:
            return
        recorded = self._record_facts()
        with self._lock:
            hashing = self._hashing.setdefault(project, threading.Lock())
        with hashing:
            waiting = self._pending.get(project)
            if waiting is None:
                return
            found = {}
            for name in sorted(waiting):
                facts, path = recorded.get(name), self.root / name
                if _full(facts):
                    found[name] = facts
                elif path.is_file():  # the old record form (a sha256 only) keeps its hash
                    found[name] = self._complete(path, facts or FileFacts(name, sha256_file(path)))
                    self._hashed = True
            with self._lock:
                self._files.update(found)
                del self._pending[project]
                self._hashing.pop(project, None)
                self.pages.set_files(project, found)
            self.progress.advance(len(waiting))

    def catch_up(self) -> None:
        """Make the store consistent: hash what the record lacks (saving progress as it goes),
        check every wheel's metadata file, render the pages whose stamps do not match, rebuild the
        catalog; then accept writes. Reads are served all along."""
        saved = time.monotonic()
        for project in sorted(self._pending):
            self.ensure(project)
            if self._hashed and time.monotonic() - saved > RECORD_EVERY:
                os.sync()  # the metadata files extracted so far, before the record names their hashes
                self._save_record()
                saved = time.monotonic()
        repaired = self._check_metadata_files()
        if self._hashed or repaired or len(self._files) != len(self._record_facts()):
            os.sync()
            self._save_record()
        self._recorded = {}  # its facts are in the store now
        self.pages.check()
        self.progress.grow(len(self.pages.dirty()))
        self.pages.flush(progress=self.progress.advance)
        by_project: dict[str, list[str]] = {}
        for name in self._files:
            by_project.setdefault(_project(name), []).append(name)
        self.records.load(by_project)
        self.catalog.rebuild(self._files, {n: _project(n) for n in self._files})
        self.progress.advance(1)
        self.progress.finish()

    def _check_metadata_files(self) -> bool:
        """Every wheel has its metadata file and no metadata file lacks its wheel (a crash between
        the two links); True if anything was repaired."""
        folder = self.root / METADATA_DIR
        present = {e.name for e in os.scandir(folder) if e.is_file()}
        repaired = False
        for name, facts in list(self._files.items()):
            if name.endswith(".whl") and facts.metadata_sha256 is not None and name + METADATA_SUFFIX not in present:
                self._files[name] = self._complete(self.root / name, replace(facts, metadata_sha256=None))
                repaired = True
        for meta in present:
            if meta.removesuffix(METADATA_SUFFIX) not in self._files:
                (folder / meta).unlink(missing_ok=True)
        return repaired

    def _complete(self, path: Path, facts: FileFacts) -> FileFacts:
        """Fill in what the record lacks: files released before facts were recorded, or found
        without a record, get their mtime as upload time and their metadata from the archive."""
        stat = path.stat()
        known = facts.upload_time is not None  # a full record entry, written at upload
        meta_sha, requires = facts.metadata_sha256, facts.requires_python
        if path.name.endswith(".whl"):
            target = metadata_path(self.root, path.name)
            if not (known and meta_sha is not None and target.is_file()):
                raw = target.read_bytes() if target.is_file() else _metadata_of(path)
                if raw is not None and not target.is_file():
                    write_metadata(self.root, path.name, raw)
                meta_sha = sha256_bytes(raw) if raw is not None else None
                requires = parse_core_metadata(raw).requires_python if raw is not None else None
        elif not known:
            raw = _metadata_of(path)  # an sdist's PKG-INFO: Requires-Python, best effort
            requires = parse_core_metadata(raw).requires_python if raw is not None else None
        return FileFacts(path.name, facts.sha256, stat.st_size, facts.upload_time or upload_time(stat.st_mtime),
                         requires, meta_sha)

    def _save_record(self) -> None:
        atomic_write_text(self.root / RECORD, render_record(dict(self._files)))


def release_metadata(root: Path, filename: str) -> bytes | None:
    """A stored file's METADATA (a wheel's served metadata file) or PKG-INFO (read from the sdist)."""
    if filename.endswith(".whl"):
        try:
            return metadata_path(root, filename).read_bytes()
        except OSError:
            pass
    return _metadata_of(root / filename)


def _metadata_of(path: Path) -> bytes | None:
    """A stored archive's METADATA / PKG-INFO, or None if it cannot be read within the caps."""
    try:
        return archive_metadata(path, path.name)
    except UploadRefused:
        return None


def _full(facts: FileFacts | None) -> TypeGuard[FileFacts]:
    """A record entry written at upload, with every fact (older entries hold a sha256 only)."""
    return facts is not None and facts.upload_time is not None and facts.size is not None


def _project_or_none(filename: str) -> str | None:
    if filename.endswith(".whl") and filename.count("-") in (4, 5):  # name-version(-build)-py-abi-platform
        return canonicalize_name(filename.split("-", 1)[0])
    guessed = guess_pkgname_and_version(filename)
    return canonicalize_name(guessed[0]) if guessed else None


def _project(filename: str) -> str:
    guessed = guess_pkgname_and_version(filename)
    return canonicalize_name(guessed[0] if guessed else filename)
