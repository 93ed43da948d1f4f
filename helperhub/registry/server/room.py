"""Room on the package volume. An upload whose declared size cannot fit beside what the uploads
in flight were promised is refused from its headers, before a byte is stored; a volume that fills
up anyway (a chunked body, another writer on the volume) is answered the same way: 507 with one
line saying how much room there is, and nothing left behind."""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from helperhub.registry.server.validate import UploadRefused

# Kept free beyond every reservation, for what an upload rewrites besides its file: the record,
# its metadata file and pages. The record and the root pages grow with the folder, so the margin
# grows with the record.
MARGIN_FLOOR = 8 << 20
MARGIN_PER_RECORD_BYTE = 3
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
ADVICE = "free space or grow the volume"


class NoRoom(UploadRefused):
    """The package volume cannot hold the upload (HTTP 507)."""


def out_of_room(exc: BaseException) -> bool:
    """Whether ``exc`` is a write that failed because the volume (or the user's quota) is full."""
    return isinstance(exc, OSError) and exc.errno in FULL_ERRNOS


def free_bytes(root: Path) -> int:
    """Bytes an unprivileged writer may still put on the volume of ``root``."""
    stat = os.statvfs(root)
    return stat.f_bavail * stat.f_frsize


def human(size: int) -> str:
    """A size as people read it in a message (decimal units, as ``df -H``)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if abs(size) >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def room_line(root: Path, *, needed: int | None = None, held: int = 0, kept: int = 0) -> str:
    """The one line a refused writer reads: how much room the volume has, what to do."""
    said = f"the package volume has {human(free_bytes(root))} free"
    if held:
        said += f" ({human(held)} of it held for uploads in progress)"
    if needed is not None:
        said += f", and this upload needs {human(needed)}"
        if kept:
            said += f" plus {human(kept)} kept free for the index's own files"
    return f"{said}; {ADVICE}"


def margin(record: Path | None) -> int:
    """The room kept free for an upload's small writes."""
    try:
        size = record.stat().st_size if record is not None else 0
    except OSError:
        size = 0
    return MARGIN_FLOOR + MARGIN_PER_RECORD_BYTE * size


def require_margin(root: Path, record: Path | None) -> None:
    """Before a stored file is made visible: refuse (NoRoom) if the volume no longer has room
    for the record and pages that follow (another writer filled it meanwhile). Half the margin
    is asked here, as the reservations counted it once for all uploads in flight."""
    if free_bytes(root) < margin(record) // 2:
        raise NoRoom(room_line(root))


@dataclass(eq=False)
class Hold:
    """One upload's reservation; ``arrived`` (body bytes read so far, kept up to date by the
    reader) is on the volume already, so no longer held."""

    size: int
    arrived: int = 0

    @property
    def left(self) -> int:
        return max(self.size - self.arrived, 0)


class Room:
    """The reservation ledger of one package folder: reserve a declared size on accept, release
    it when the upload is done, whatever the outcome."""

    def __init__(self, root: Path, record: Path | None = None) -> None:
        """``record``: the file every upload rewrites whole, whose size the margin follows."""
        self.root, self.record = root, record
        self._lock = threading.Lock()
        self._holds: set[Hold] = set()

    @property
    def held(self) -> int:
        """Bytes promised to uploads in flight and not yet arrived."""
        return sum(hold.left for hold in list(self._holds))

    def reserve(self, size: int) -> Hold:
        """Hold ``size`` bytes (a body of unknown length, -1, holds none: then only the margin
        must be free), or raise NoRoom with the line."""
        size = max(size, 0)
        kept = margin(self.record)
        with self._lock:
            held = self.held
            if size + kept > free_bytes(self.root) - held:
                raise NoRoom(room_line(self.root, needed=size or None, held=held, kept=kept))
            hold = Hold(size)
            self._holds.add(hold)
        return hold

    def release(self, hold: Hold) -> None:
        with self._lock:
            self._holds.discard(hold)
