"""What the index knows of each released file, and the PEP 658 metadata files of wheels.

Per file: sha256, size, upload time (PEP 700), Requires-Python and the sha256 of the wheel's
``METADATA`` (served as ``<wheel>.metadata``, so installers resolve without downloading wheels).
They are kept in the durable record beside the packages (``.helperhub-sha256.json``: file name
-> facts; the older form, file name -> sha256, is still read), and the metadata files in a hidden
folder, since pypiserver would list ``x.whl.metadata`` in the package folder as a package.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from helperhub.core.fs import atomic_write_bytes

METADATA_DIR = ".metadata"  # hidden: pypiserver never lists it, nginx serves it
METADATA_SUFFIX = ".metadata"


@dataclass(frozen=True)
class FileFacts:
    filename: str
    sha256: str
    size: int | None = None
    upload_time: str | None = None  # PEP 700: YYYY-MM-DDTHH:MM:SS.ffffffZ, UTC
    requires_python: str | None = None
    metadata_sha256: str | None = None  # PEP 658/714: the .metadata file's sha256; None: none served

    def record(self) -> dict[str, Any]:
        """The durable form (None fields left out)."""
        return {k: v for k, v in (("sha256", self.sha256), ("size", self.size), ("upload_time", self.upload_time),
                                  ("requires_python", self.requires_python),
                                  ("metadata_sha256", self.metadata_sha256)) if v is not None}


def upload_time(timestamp: float | None = None) -> str:
    """A moment in PEP 700's format (microseconds, UTC, ``Z``)."""
    moment = datetime.fromtimestamp(time.time() if timestamp is None else timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_record(text: str) -> dict[str, FileFacts]:
    """The record's facts by file name; an entry that is only a sha256 (the older form) gives a
    FileFacts with the rest unknown. Unreadable entries are dropped (they are recomputed)."""
    try:
        raw = json.loads(text)
    except ValueError:
        return {}
    facts: dict[str, FileFacts] = {}
    if not isinstance(raw, dict):
        return facts
    for name, entry in raw.items():
        if isinstance(entry, str):
            facts[name] = FileFacts(name, entry)
        elif isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
            size = entry.get("size")
            facts[name] = FileFacts(
                name, entry["sha256"], size if isinstance(size, int) else None,
                _str_or_none(entry.get("upload_time")), _str_or_none(entry.get("requires_python")),
                _str_or_none(entry.get("metadata_sha256")),
            )
    return facts


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def render_record(files: dict[str, FileFacts]) -> str:
    return json.dumps({n: f.record() for n, f in sorted(files.items())}, indent=0)


def metadata_path(root: Path, filename: str) -> Path:
    return root / METADATA_DIR / (filename + METADATA_SUFFIX)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_metadata_temp(root: Path, data: bytes, prefix: str) -> Path:
    """``data`` in a hidden, fsynced temp file of the metadata folder, ready to be renamed into place."""
    import tempfile

    folder = root / METADATA_DIR
    folder.mkdir(exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), 0o644)  # a front server reads it as another user
            os.fsync(out.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def write_metadata(root: Path, filename: str, data: bytes) -> None:
    """Put a wheel's metadata file in place atomically (a start's catch-up, for wheels without
    one). Not flushed to disk here: the catch-up syncs once before the record that names its
    hash is saved, and a file lost in a crash before that is extracted again."""
    atomic_write_bytes(metadata_path(root, filename), data, durable=False)


def fsync_dir(path: Path) -> None:
    """Make a rename or link in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
