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
re-renders the pages it touches: the simple pages (pages.py) and the catalog (catalog_cache.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Iterable
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
from helperhub.core.fs import atomic_write_text, sha256_file
from helperhub.core.metadata import parse_core_metadata
from helperhub.registry.server.catalog.cache import CATALOG_DIR, CatalogCache, Sources
from helperhub.registry.server.events import EventLog
from helperhub.registry.server.fileset import shadowed_by
from helperhub.registry.server.metadata import (
    METADATA_DIR,
    METADATA_SUFFIX,
    FileFacts,
    fsync_dir,
    metadata_path,
    parse_record,
    render_record,
    sha256_bytes,
    upload_time,
    write_metadata,
    write_metadata_temp,
)
from helperhub.registry.server.notes import ImageRefs, Yanks, check_image_ref, check_target_name
from helperhub.registry.server.owners import Owners
from helperhub.registry.server.simple.pages import PAGES_DIR, PageCache
from helperhub.registry.server.validate import (
    UploadRefused,
    archive_metadata,
    check_archive,
    check_filename,
)

RECORD = ".helperhub-sha256.json"
SERVER_LOCK = ".helperhub-server.lock"
TEMP_PREFIX = ".upload-"
CHUNK = 1 << 20
RECORD_EVERY = 5.0  # seconds: while rehashing a large folder, progress is saved this often


class UploadConflict(UploadRefused):
    """The file name is already taken: released files never change."""


class UploadTooLarge(UploadRefused):
    """The upload is larger than the registry accepts."""


class UploadForbidden(UploadRefused):
    """The user does not own the project."""


class NotFound(UploadRefused):
    """A yank or an image names a project or version the index does not have."""


class HardenedBackend(Backend):  # type: ignore[misc]
    """Atomic, exclusive, validated, fact-recording storage in one package folder."""

    def __init__(self, config: Any, root: Path, max_bytes: int, owners_file: Path | None = None,
                 index_url: str = f"http://{defaults.REGISTRY_HOST}:{defaults.REGISTRY_PORT}") -> None:
        """``index_url``: the index as its users reach it, for the catalog's install snippets."""
        super().__init__(config)
        self.root = root.resolve()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._files: dict[str, FileFacts] = {}
        self.pages = PageCache(self.root / PAGES_DIR)
        self.root.mkdir(parents=True, exist_ok=True)
        self._owner = claim_folder(self.root)
        self.owners = owners = Owners(self.root, owners_file)
        self.yanks = Yanks(self.root)
        self.images = ImageRefs(self.root)
        self.events = EventLog(self.root)
        # no reference back to the backend: a start that fails frees it, and the folder's lock, at once
        self.catalog = CatalogCache(self.root / CATALOG_DIR, index_url, Sources(
            metadata=partial(release_metadata, self.root), owners=lambda p: owners.of(p).users,
            yanked=self.yanks.of, images=self.images.of))
        self._load()

    # -- state ----------------------------------------------------------------------------------
    def _load(self) -> None:
        """Recover after any stop: drop unfinished temp files, keep recorded facts, compute the
        rest (hash, metadata file), and drop metadata files whose wheel never landed."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / METADATA_DIR).mkdir(exist_ok=True)
        for leftover in [*self.root.glob(f"{TEMP_PREFIX}*"), *(self.root / METADATA_DIR).glob(f"{TEMP_PREFIX}*")]:
            leftover.unlink(missing_ok=True)
        try:
            recorded = parse_record((self.root / RECORD).read_text())
        except FileNotFoundError:
            recorded = {}
        saved = time.monotonic()
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".") or not path.is_file() or guess_pkgname_and_version(path.name) is None:
                continue
            facts = recorded.get(path.name)
            if facts is None:  # a lost or partial record: hash, and keep the progress
                facts = FileFacts(path.name, sha256_file(path))
                if time.monotonic() - saved > RECORD_EVERY:
                    self._save_record()
                    saved = time.monotonic()
            self._files[path.name] = self._complete(path, facts)
        for meta in (self.root / METADATA_DIR).iterdir():
            if meta.name.removesuffix(METADATA_SUFFIX) not in self._files:
                meta.unlink(missing_ok=True)  # its wheel never landed (a crash between the two links)
        self._save_record()
        projects = {n: _project(n) for n in self._files}
        self.pages.rebuild(self._files, projects, self.yanks.all())
        self.catalog.rebuild(self._files, projects)

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
                    write_metadata(self.root, path.name, raw, TEMP_PREFIX)
                meta_sha = sha256_bytes(raw) if raw is not None else None
                requires = parse_core_metadata(raw).requires_python if raw is not None else None
        elif not known:
            raw = _metadata_of(path)  # an sdist's PKG-INFO: Requires-Python, best effort
            requires = parse_core_metadata(raw).requires_python if raw is not None else None
        return FileFacts(path.name, facts.sha256, stat.st_size, facts.upload_time or upload_time(stat.st_mtime),
                         requires, meta_sha)

    def _save_record(self) -> None:
        atomic_write_text(self.root / RECORD, render_record(self._files))

    def sha256_of(self, filename: str) -> str | None:
        stored = self._files.get(filename)
        return stored.sha256 if stored else None

    def facts_of(self, filename: str) -> FileFacts | None:
        return self._files.get(filename)

    def metadata_file(self, name: str) -> tuple[Path, str] | None:
        """The path and sha256 of a served ``<wheel>.metadata``; None if there is none."""
        facts = self._files.get(name.removesuffix(METADATA_SUFFIX)) if name.endswith(METADATA_SUFFIX) else None
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
        project = _project(filename)
        twin = shadowed_by(filename, [n for n in self._files if _project(n) == project])
        if twin is not None:
            raise UploadConflict(
                f"{filename} could be installed instead of {twin} of the same version; "
                "a released version's files never change: bump the version"
            )

    def _check_owner(self, project: str, user: str, verb: str) -> None:
        ownership = self.owners.of(project)
        if not ownership.allows(user):
            raise UploadForbidden(ownership.refusal(project, verb))

    def check_upload(self, filename: str, user: str | None) -> str:
        """What can be decided from the file name alone, before a byte of the file is read: a
        safe name, a project the user may release to, a name not taken. The canonical project."""
        project = check_filename(filename)[0]
        if user is not None:
            self._check_owner(project, user, "release")
        self._check_new(filename)
        return project

    def store(self, filename: str, chunks: Iterable[bytes], expected_sha256: str | None = None,
              user: str | None = None) -> FileFacts:
        """Stream ``chunks`` into a hidden temp file, validate, and link it into place.

        Refusals (name, owner, twin, size, archive, a sha256 other than the client declared) leave
        nothing behind; the owner and twin checks are made again under the lock, at the moment of
        linking, where an unowned project is claimed by ``user``."""
        project = self.check_upload(filename, user)
        fd, tmp_name = _temp_file(self.root)
        tmp = Path(tmp_name)
        meta_tmp: Path | None = None
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
                self._save_record()
                self.pages.add(project, filename, stored)
                self.events.landed(project, stored, self._files, user)
            self.catalog.add(project, stored)  # outside the lock: descriptions take a while to render
            return stored
        finally:
            tmp.unlink(missing_ok=True)
            if meta_tmp is not None:
                meta_tmp.unlink(missing_ok=True)

    def _released_version(self, project: str, version_text: str, user: str, verb: str) -> Version:
        """The version of ``project`` a yank or an image names, as its files spell it (1.1 is 1.1.0),
        if the user owns the project; call under the lock."""
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


def _project(filename: str) -> str:
    guessed = guess_pkgname_and_version(filename)
    return canonicalize_name(guessed[0] if guessed else filename)


def _temp_file(root: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=root)
