"""The registry's storage: a pypiserver backend that never lists a half-written or replaced file.

An upload is written to a hidden temp file in the package folder, fsynced, validated, and only
then linked into place with an exclusive create, so of two uploads of one name exactly one wins.
The sha256 is computed while the bytes arrive and recorded with the file's other facts (size,
upload time, Requires-Python, its PEP 658 metadata file); the record is what the index serves.
A wheel's metadata file is linked into place before the wheel, so a served wheel always has it.
The listing is kept in memory, updated by the registry's own writes (no folder walk per request),
so one server owns a package folder: a second one on the same folder refuses to start. A released
version's file set only grows by files that cannot shadow the ones already there; who may add to
a project, yank its versions or record their images is the owners' call (owners.py). Every change
re-renders the pages it touches: the simple pages (simple/cache.py) and the catalog
(catalog/cache.py). A start lists the folder and serves; the rest of a start is a catch-up in the
background (recovery.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import IO, Any, BinaryIO

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pypiserver.backend import Backend
from pypiserver.core import PkgFile
from pypiserver.pkg_helpers import guess_pkgname_and_version

from helperhub.core import defaults
from helperhub.core.dists import dist_version
from helperhub.core.errors import ConfigError
from helperhub.core.metadata import parse_core_metadata
from helperhub.registry.server.catalog.cache import CATALOG_DIR, CatalogCache, Sources
from helperhub.registry.server.catchup import RETRY_AFTER
from helperhub.registry.server.events import EventLog
from helperhub.registry.server.fileset import shadowed_by
from helperhub.registry.server.metadata import (
    METADATA_SUFFIX,
    FileFacts,
    fsync_dir,
    metadata_path,
    sha256_bytes,
    upload_time,
    write_metadata_temp,
)
from helperhub.registry.server.notes import ImageRefs, Yanks, check_image_ref, check_target_name
from helperhub.registry.server.owners import Owners
from helperhub.registry.server.records import ReleaseRecords
from helperhub.registry.server.recovery import (
    RECORD,
    TEMP_PREFIX,
    Recovery,
    _project,
    _project_or_none,
    release_metadata,
)
from helperhub.registry.server.room import NoRoom, out_of_room, require_margin, room_line
from helperhub.registry.server.simple.cache import PageCache
from helperhub.registry.server.simple.negotiate import Format
from helperhub.registry.server.simple.pages import PAGES_DIR, Page
from helperhub.registry.server.validate import (
    UploadRefused,
    check_archive,
    check_filename,
)

SERVER_LOCK = ".helperhub-server.lock"
CHUNK = 1 << 20


class UploadConflict(UploadRefused):
    """The file name is already taken: released files never change."""


class UploadTooLarge(UploadRefused):
    """The upload is larger than the registry accepts."""


class UploadForbidden(UploadRefused):
    """The user does not own the project."""


class NotFound(UploadRefused):
    """A yank or an image names a project or version the index does not have."""


class CatchingUp(UploadRefused):
    """The store is still catching up after a start: writes wait, reads are served."""


class HardenedBackend(Recovery, Backend):  # type: ignore[misc]
    """Atomic, exclusive, validated, fact-recording storage in one package folder."""

    def __init__(self, config: Any, root: Path, max_bytes: int, owners_file: Path | None = None,
                 index_url: str = f"http://{defaults.REGISTRY_HOST}:{defaults.REGISTRY_PORT}",
                 background: bool = False) -> None:
        """``index_url``: the index as its users reach it, for the catalog's install snippets;
        ``background``: the caller runs ``catch_up`` in a thread (the server, which serves reads
        meanwhile) instead of the constructor."""
        super().__init__(config)
        self.root = root.resolve()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._hashing: dict[str, threading.Lock] = {}  # per project: the catch-up and a read never both hash it
        self._files: dict[str, FileFacts] = {}
        self._pending: dict[str, set[str]] = {}  # project -> files whose facts are to come
        self._recorded: dict[str, FileFacts] | None = None  # the record's facts, until the catch-up is done
        self._hashed = False  # some file's facts came from hashing it: the record is saved again
        self.pages = PageCache(self.root / PAGES_DIR)
        self.root.mkdir(parents=True, exist_ok=True)
        self._owner = claim_folder(self.root)
        self.owners = owners = Owners(self.root, owners_file)
        self.yanks = Yanks(self.root)
        self.images = ImageRefs(self.root)
        self.records = records = ReleaseRecords(self.root)
        self.events = EventLog(self.root)
        self.gone: Callable[[str], object | None] = lambda name: None  # a deleted name (retention)
        # no reference back to the backend: a start that fails frees it, and the folder's lock, at once
        self.catalog = CatalogCache(self.root / CATALOG_DIR, index_url, Sources(
            metadata=partial(release_metadata, self.root), owners=lambda p: owners.of(p).users,
            yanked=self.yanks.of, images=self.images.of, is_helper=records.is_helper, used_by=records.used_by))
        self._load()
        if not background:
            self.catch_up()

    def sha256_of(self, filename: str) -> str | None:
        stored = self.facts_of(filename)
        return stored.sha256 if stored else None

    def facts_of(self, filename: str) -> FileFacts | None:
        if self._pending and filename not in self._files and (project := _project_or_none(filename)):
            self.ensure(project)
        return self._files.get(filename)

    def is_helper(self, project: str) -> bool:
        """The release records' rule, for a project by its canonical name."""
        return self.records.is_helper(project, self.pages.filenames(project))

    def page(self, project: str, fmt: Format = "html") -> Page | None:
        """A project's simple page (its files known first, if the catch-up has not reached it)."""
        if self._pending:
            self.ensure(canonicalize_name(project))
        return self.pages.get(project, fmt)

    def metadata_file(self, name: str) -> tuple[Path, str] | None:
        """The path and sha256 of a served ``<wheel>.metadata``; None if there is none."""
        facts = self.facts_of(name.removesuffix(METADATA_SUFFIX)) if name.endswith(METADATA_SUFFIX) else None
        if facts is None or facts.metadata_sha256 is None:
            return None
        return metadata_path(self.root, facts.filename), facts.metadata_sha256

    # -- pypiserver's backend interface -----------------------------------------------------------
    def get_all_packages(self) -> Iterable[PkgFile]:
        root = str(self.root)
        for name in list(self._files):
            guessed = guess_pkgname_and_version(name)
            if guessed is not None:
                yield PkgFile(pkgname=guessed[0], version=guessed[1], fn=str(self.root / name), root=root, relfn=name)

    def exists(self, filename: str) -> bool:
        return filename in self._files

    def digest(self, pkg: PkgFile) -> str | None:
        stored = self._files.get(Path(pkg.fn).name) if pkg.fn else None
        return f"sha256={stored.sha256}" if stored else None

    def remove_package(self, pkg: PkgFile) -> None:
        raise UploadRefused("released files are never removed through the index")

    def add_package(self, filename: str, stream: BinaryIO) -> None:
        self.store(filename, iter(lambda: stream.read(CHUNK), b""))

    # -- the write path ---------------------------------------------------------------------------
    def _check_new(self, filename: str) -> None:
        """Refuse a taken name, or a file that could be installed instead of a released one."""
        if filename in self._files:
            raise UploadConflict(f"{filename} already exists; released files never change: bump the version")
        if self.gone(filename) is not None:
            raise UploadConflict(f"{filename} was deleted by retention and its name is never used again: "
                                 "bump the version")
        project = _project(filename)
        twin = shadowed_by(filename, [n for n in self._files if _project(n) == project])
        if twin is not None:
            raise UploadConflict(
                f"{filename} could be installed instead of {twin} of the same version; "
                "a released version's files never change: bump the version"
            )

    def _check_owner(self, project: str, user: str, verb: str) -> None:
        ownership = self.owners.of(project)
        if not ownership.source and not self.owners.is_admin(user) and self.pages.filenames(project):
            # files with no owner (older than the owners file, copied in, restored): nobody claims them by a write
            raise UploadForbidden(f"{project} has files but no owner, so only an admin may {verb} it; ask an admin "
                                  "to name its owners in the owners file")
        if not ownership.allows(user):
            raise UploadForbidden(ownership.refusal(project, verb))

    def check_writable(self) -> None:
        if not self.progress.consistent.is_set():
            status = self.progress.health()["catching_up"]
            raise CatchingUp(f"the index is catching up after a start ({status['done']} of {status['total']} "
                             f"done); retry in {RETRY_AFTER} s")

    def check_upload(self, filename: str, user: str | None) -> str:
        """What can be decided from the file name alone, before a byte of the file is read: a
        safe name, a project the user may release to, a name not taken. The canonical project."""
        project = check_filename(filename)[0]
        self.check_writable()
        if user is not None:
            self._check_owner(project, user, "release")
        self._check_new(filename)
        return project

    def store(self, filename: str, chunks: Iterable[bytes], expected_sha256: str | None = None,
              user: str | None = None) -> FileFacts:
        """Stream ``chunks`` into a hidden temp file, validate, and link it into place.

        Refusals (name, owner, twin, size, archive, a sha256 other than the client declared, a
        full volume) leave nothing behind; the owner and twin checks are made again under the
        lock, at the moment of linking, where an unowned project is claimed by ``user``."""
        project = self.check_upload(filename, user)
        fd, tmp_name = _temp_file(self.root)
        tmp = Path(tmp_name)
        meta_tmp: Path | None = None
        linked = False
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise UploadTooLarge(f"{filename} is larger than the limit of {self.max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fchmod(out.fileno(), 0o644)  # served read-only to anyone who may list
                os.fsync(out.fileno())
            if expected_sha256 and expected_sha256.lower() != digest.hexdigest():
                raise UploadRefused(
                    f"{filename} arrived with sha256 {digest.hexdigest()}, the client sent {expected_sha256}; "
                    "upload it again"
                )
            raw = check_archive(tmp, filename)
            wheel = filename.endswith(".whl")
            if wheel:  # PEP 658: the wheel's METADATA, served beside it
                meta_tmp = write_metadata_temp(self.root, raw, TEMP_PREFIX)
            # the facts are worked out before the store's lock: other uploads do not wait for them
            requires_python, metadata_sha256 = parse_core_metadata(raw).requires_python, (
                sha256_bytes(raw) if wheel else None)
            with self._lock:
                if user is not None:
                    self._check_owner(project, user, "release")
                self._check_new(filename)
                require_margin(self.root, self.root / RECORD)  # room for the record and pages below
                if user is not None:
                    self.owners.claim(project, user)
                stored = FileFacts(filename, digest.hexdigest(), size, upload_time(), requires_python, metadata_sha256)
                target = metadata_path(self.root, filename)
                if meta_tmp is not None:  # first the metadata, so a served wheel always has it
                    os.replace(meta_tmp, target)
                    fsync_dir(target.parent)
                try:
                    os.link(tmp, self.root / filename)  # exclusive: fails if the name exists
                except FileExistsError:
                    if meta_tmp is not None:
                        target.unlink(missing_ok=True)
                    raise UploadConflict(f"{filename} already exists; released files never change") from None
                fsync_dir(self.root)
                self._files[filename] = stored
                try:
                    self._save_record()
                except OSError as exc:  # the record is what the index serves: no record, no file
                    if not out_of_room(exc):
                        raise
                    del self._files[filename]
                    (self.root / filename).unlink(missing_ok=True)
                    if meta_tmp is not None:
                        target.unlink(missing_ok=True)
                    fsync_dir(self.root)
                    raise
                linked = True
                self.pages.add(project, filename, stored)
                self.events.landed(project, stored, self._files, user)
            self.catalog.add(project, stored)  # outside the lock: descriptions take a while to render
            return stored
        except OSError as exc:
            if not out_of_room(exc):
                raise
            tmp.unlink(missing_ok=True)  # first, so the line counts the room it held
            if meta_tmp is not None:
                meta_tmp.unlink(missing_ok=True)
            stored_note = f"{filename} is stored but its index pages are not written yet: " if linked else ""
            raise NoRoom(stored_note + room_line(self.root)) from None
        finally:
            tmp.unlink(missing_ok=True)
            if meta_tmp is not None:
                meta_tmp.unlink(missing_ok=True)

    def files(self) -> dict[str, FileFacts]:
        """Every file's facts, at one moment."""
        with self._lock:
            return dict(self._files)

    def drop_files(self, project: str, names: Iterable[str]) -> None:
        """Stop listing files of ``project`` (retention deletes them; their tombstone is written
        first): the record, the project's pages and the catalog no longer name them."""
        with self._lock:
            for name in names:
                self._files.pop(name, None)
            self._save_record()
            left = {n: f for n, f in self._files.items() if _project(n) == project}
            self.pages.set_files(project, left)
        self.pages.flush([project])
        self.catalog.removed(project, set(names))

    def _released_version(self, project: str, version_text: str, user: str, verb: str) -> Version:
        """The version of ``project`` a yank or an image names, as its files spell it (1.1 is 1.1.0),
        if the user owns the project; call under the lock."""
        self.check_writable()
        try:
            version = Version(version_text)
        except InvalidVersion:
            raise UploadRefused(f"{version_text!r} is not a version; give one like 1.2.0") from None
        versions = sorted({v for n in self._files if _project(n) == project and (v := dist_version(n)) is not None})
        if not versions:
            raise NotFound(f"the index has no project {project}; check the name")
        self._check_owner(project, user, verb)
        if version not in versions:
            raise NotFound(f"{project} has no version {version}; it has {', '.join(map(str, versions))}")
        return versions[versions.index(version)]

    def owned_release(self, name: str, version_text: str, user: str) -> tuple[str, Version]:
        """The canonical project and version (as its files spell it) of a release ``user`` may add to."""
        project = canonicalize_name(name)
        with self._lock:
            return project, self._released_version(project, version_text, user, "release")

    def set_yanked(self, name: str, version_text: str, reason: str | None, user: str) -> str:
        """Yank (``reason`` a string, "" for none) or unyank (None) every file of a version."""
        project = canonicalize_name(name)
        verb = "unyank" if reason is None else "yank"
        with self._lock:
            version = self._released_version(project, version_text, user, verb)
            self.pages.set_yanked(project, self.yanks.set(project, version, reason))
            self.events.noted(verb, project, version, self._files, user, reason=reason)
        self.catalog.changed(project)
        return f"{project} {version} {verb}ed"

    def set_image(self, name: str, version_text: str, ref: str, user: str, target: str = defaults.TARGET_NAME) -> str:
        """Record the helper image (``repo@sha256:...``) of one target of a released version, for the catalog."""
        project = canonicalize_name(name)
        ref, target = check_image_ref(ref), check_target_name(target)
        with self._lock:
            version = self._released_version(project, version_text, user, "release")
            self.images.set(project, version, ref, target)
            self.events.noted("image", project, version, self._files, user, target=target, image=ref)
        self.catalog.changed(project)
        return f"{project} {version} image {ref}" + (f" (target {target})" if target != defaults.TARGET_NAME else "")


def claim_folder(root: Path) -> IO[str]:
    """Hold the package folder for this process (released when it exits, even killed): two
    servers on one folder would each keep their own listing and delete each other's temp files."""
    fh = (root / SERVER_LOCK).open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise ConfigError(
            f"another registry (pid {holder}) already serves {root}; stop it, or give this one "
            "another --packages folder"
        ) from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


def _temp_file(root: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=root)
