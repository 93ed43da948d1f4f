"""Files that other processes read (the lock, registry records, pages, credentials) are
replaced atomically: a reader sees the old or the new bytes, never a half-written file."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in chunks (wheels can be several GB)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_text(path: Path, text: str, mode: int = 0o644, *, durable: bool = True) -> None:
    """Write a text file others read so that it is either old or new, never half written (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"), mode, durable=durable)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644, *, durable: bool = True) -> None:
    """Write a file others read so that it is either old or new, never half written.

    ``durable=False`` leaves the flush to disk to the caller (one ``os.sync()`` after a batch of
    pages instead of two fsyncs each): readers still see old or new bytes; only a crash before
    that sync can lose the write, which the caller must be able to redo."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if not durable:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
