"""The registry's storage: a pypiserver backend that never lists a half-written or replaced file.

An upload is written to a hidden temp file in the package folder, fsynced, validated, and only
then linked into place with an exclusive create, so of two uploads of one name exactly one wins.
The sha256 is computed while the bytes arrive, recorded, and is what the index serves. The
listing is kept in memory, updated by the registry's own writes (no folder walk per request).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from packaging.utils import canonicalize_name
from pypiserver.backend import Backend
from pypiserver.core import PkgFile
from pypiserver.pkg_helpers import guess_pkgname_and_version

from helperhub.core.fs import atomic_write_text
from helperhub.registry.pages import PAGES_DIR, PageCache
from helperhub.registry.validate import UploadRefused, check_archive, check_filename

RECORD = ".helperhub-sha256.json"
TEMP_PREFIX = ".upload-"
CHUNK = 1 << 20


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
        for path in sorted(self.root.iterdir()):
            if path.name.startswith(".") or not path.is_file() or guess_pkgname_and_version(path.name) is None:
                continue
            sha = recorded.get(path.name) or _sha256_file(path)
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
        self.store(filename, stream)

    # -- the write path ---------------------------------------------------------------------------
    def store(self, filename: str, stream: BinaryIO) -> Stored:
        check_filename(filename)
        if filename in self._files:
            raise UploadConflict(f"{filename} already exists; released files never change: bump the version")
        fd, tmp_name = _temp_file(self.root)
        tmp = Path(tmp_name)
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as out:
                for chunk in iter(lambda: stream.read(CHUNK), b""):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise UploadTooLarge(f"{filename} is larger than the limit of {self.max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fchmod(out.fileno(), 0o644)  # served read-only to anyone who may list
                os.fsync(out.fileno())
            check_archive(tmp, filename)
            stored = Stored(filename, digest.hexdigest(), size)
            with self._lock:
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


def _project(filename: str) -> str:
    guessed = guess_pkgname_and_version(filename)
    return canonicalize_name(guessed[0] if guessed else filename)


def _temp_file(root: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".part", dir=root)


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()
