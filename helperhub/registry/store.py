"""The registry's storage: a pypiserver backend that never lists a half-written or replaced file.

An upload is written to a hidden temp file in the package folder, fsynced, validated, and only
then linked into place with an exclusive create, so of two uploads of one name exactly one wins.
The sha256 is computed while the bytes arrive, recorded, and is what the index serves. The
listing is kept in memory, updated by the registry's own writes (no folder walk per request), so
one server owns a package folder: a second one on the same folder refuses to start. A released
version's file set only grows by files that cannot shadow the ones already there.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from packaging.utils import canonicalize_name
from pypiserver.backend import Backend
from pypiserver.core import PkgFile
from pypiserver.pkg_helpers import guess_pkgname_and_version

from helperhub.core.errors import ConfigError
from helperhub.core.fs import atomic_write_text, sha256_file
from helperhub.registry.fileset import shadowed_by
from helperhub.registry.pages import PAGES_DIR, PageCache
from helperhub.registry.validate import UploadRefused, check_archive, check_filename

RECORD = ".helperhub-sha256.json"
SERVER_LOCK = ".helperhub-server.lock"
TEMP_PREFIX = ".upload-"
CHUNK = 1 << 20
RECORD_EVERY = 5.0  # seconds: while rehashing a large folder, progress is saved this often


class UploadConflict(UploadRefused):
    """The file name is already taken: released files never change."""


class UploadTooLarge(UploadRefused):
    """The upload is larger than the registry accepts."""


@dataclass(frozen=True)
class Stored:
    filename: str
    sha256: str
    size: int


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class HardenedBackend(Backend):  # type: ignore[misc]
    """Atomic, exclusive, validated, hash-recording storage in one package folder."""

    def __init__(self, config: Any, root: Path, max_bytes: int) -> None:
        super().__init__(config)
        self.root = root.resolve()
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._files: dict[str, Stored] = {}
        self.pages = PageCache(self.root / PAGES_DIR)
        self.root.mkdir(parents=True, exist_ok=True)
        self._owner = claim_folder(self.root)
        self._load()

    # -- state ----------------------------------------------------------------------------------
    def _load(self) -> None:
        """Recover after any stop: drop unfinished temp files, keep recorded hashes, hash the rest."""
        self.root.mkdir(parents=True, exist_ok=True)
        for leftover in self.root.glob(f"{TEMP_PREFIX}*"):
            leftover.unlink(missing_ok=True)
        try:
            recorded = json.loads((self.root / RECORD).read_text())
        except (FileNotFoundError, ValueError):
            recorded = {}
        saved = time.monotonic()
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".") or not path.is_file() or guess_pkgname_and_version(path.name) is None:
                continue
            sha = recorded.get(path.name)
            if sha is None:  # a lost or partial record: hash, and keep the progress
                sha = sha256_file(path)
                if time.monotonic() - saved > RECORD_EVERY:
                    self._save_record()
                    saved = time.monotonic()
            self._files[path.name] = Stored(path.name, sha, path.stat().st_size)
        self._save_record()
        self.pages.rebuild({n: s.sha256 for n, s in self._files.items()},
                           {n: _project(n) for n in self._files})

    def _save_record(self) -> None:
        atomic_write_text(
            self.root / RECORD, json.dumps({n: s.sha256 for n, s in sorted(self._files.items())}, indent=0)
        )

    def sha256_of(self, filename: str) -> str | None:
        stored = self._files.get(filename)
        return stored.sha256 if stored else None

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

    def store(self, filename: str, chunks: Iterable[bytes], expected_sha256: str | None = None) -> Stored:
        """Stream ``chunks`` into a hidden temp file, validate, and link it into place.

        Refusals (name, twin, size, archive, a sha256 other than the client declared) leave
        nothing behind; the twin check is made again under the lock, at the moment of linking."""
        check_filename(filename)
        self._check_new(filename)
        fd, tmp_name = _temp_file(self.root)
        tmp = Path(tmp_name)
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
            check_archive(tmp, filename)
            stored = Stored(filename, digest.hexdigest(), size)
            with self._lock:
                self._check_new(filename)
                try:
                    os.link(tmp, self.root / filename)  # exclusive: fails if the name exists
                except FileExistsError:
                    raise UploadConflict(f"{filename} already exists; released files never change") from None
                _fsync_dir(self.root)
                self._files[filename] = stored
                self._save_record()
                self.pages.add(_project(filename), filename, stored.sha256)
            return stored
        finally:
            tmp.unlink(missing_ok=True)


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
