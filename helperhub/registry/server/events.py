"""The registry's event journal: every new version, yank, unyank and image record, and every
version retention deleted, one JSON line each in ``.events/journal.jsonl`` under the package
folder, appended and fsynced before the write that caused it is answered (under the store's lock;
a delete right after its tombstone). Nothing else is ever written to it, so it is the durable outbox
of the webhooks (delivery.py) and the source of the Atom feeds (catalog/feeds.py): a reader keeps
the byte offset it has read up to and reads on from there, after any restart.

An event: ``id`` (its sequence number and a random part, so a journal started again never
repeats an id a receiver has seen), ``seq``, ``event`` (release, yank, unyank, image, delete),
``project`` (canonical), ``version`` (as its files spell it), ``time`` (RFC 3339, UTC), ``files``
(the version's files at that moment; of a delete, the files it deleted) and ``by`` (the user whose
write it was); a yank and a delete add ``reason``, an image ``target`` and ``image``. Only the one
server that holds the folder appends; a torn last line (a power cut mid-write, never
acknowledged) is cut off when the journal is opened."""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pypiserver.pkg_helpers import guess_pkgname_and_version

from helperhub.registry.server.metadata import FileFacts, fsync_dir, upload_time

EVENTS_DIR = ".events"  # hidden: pypiserver never lists it, the front never serves it
JOURNAL = "journal.jsonl"
KINDS = ("release", "yank", "unyank", "image", "delete")
MAX_REASON = 2000  # characters of a yank or delete reason an event carries (the record keeps it whole)
READ_CHUNK = 1 << 20
EXTRA_KEYS = ("reason", "target", "image")


@dataclass(frozen=True)
class Event:
    id: str
    seq: int
    event: str  # one of KINDS
    project: str
    version: str
    time: str  # RFC 3339, UTC: YYYY-MM-DDTHH:MM:SS.ffffffZ
    files: tuple[str, ...]
    by: str | None
    extra: tuple[tuple[str, str], ...] = ()  # (key, value) of EXTRA_KEYS it has

    def record(self) -> dict[str, Any]:
        """The event as one JSON object: what the journal holds and a webhook receives."""
        return {"id": self.id, "seq": self.seq, "event": self.event, "project": self.project,
                "version": self.version, "time": self.time, "files": list(self.files), "by": self.by,
                **dict(self.extra)}

    def get(self, key: str) -> str | None:
        return dict(self.extra).get(key)


def parse_event(raw: bytes) -> Event:
    """An event from its journal line; ValueError if the line is not one."""
    data = json.loads(raw)
    if not isinstance(data, dict) or data.get("event") not in KINDS:
        raise ValueError("not an event")
    files = data.get("files") or []
    by = data.get("by")
    return Event(str(data["id"]), int(data["seq"]), str(data["event"]), str(data["project"]),
                 str(data["version"]), str(data["time"]), tuple(str(f) for f in files),
                 None if by is None else str(by),
                 tuple((k, str(data[k])) for k in EXTRA_KEYS if data.get(k) is not None))


@dataclass(frozen=True)
class Logged:
    """An event as the journal holds it: its line (the exact bytes a webhook posts) and the byte
    offset just past that line, where a reader that has it resumes."""

    event: Event
    raw: bytes
    end: int


class Journal:
    """The append-only file, with a condition readers wait on for new lines."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / JOURNAL
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        if created:
            fsync_dir(folder)
        self.end = self._cut_torn_tail()
        self._seq = self._last_seq()
        self._cond = threading.Condition()

    def _cut_torn_tail(self) -> int:
        """The journal's size once a last line without its newline is cut off."""
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return size
        keep, pos = 0, size
        while pos > 0:
            start = max(0, pos - READ_CHUNK)
            cut = os.pread(self._fd, pos - start, start).rfind(b"\n")
            if cut >= 0:
                keep = start + cut + 1
                break
            pos = start
        print(f"events: cut {size - keep} bytes of an unfinished line off {self.path}", file=sys.stderr)
        os.ftruncate(self._fd, keep)
        os.fsync(self._fd)
        return keep

    def append(self, kind: str, project: str, version: str, when: str, files: Iterable[str], by: str | None,
               extra: Mapping[str, str | None] | None = None) -> Logged:
        """Write one event and fsync it; on a failed write the journal is cut back to its last line."""
        with self._cond:
            seq = self._seq + 1
            event = Event(f"{seq}-{secrets.token_hex(6)}", seq, kind, project, version, when, tuple(files), by,
                          tuple((k, v) for k, v in (extra or {}).items() if v is not None))
            raw = json.dumps(event.record(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            line = raw + b"\n"
            try:
                written = 0
                while written < len(line):
                    written += os.write(self._fd, line[written:])
                os.fsync(self._fd)
            except OSError:
                os.ftruncate(self._fd, self.end)
                raise
            self._seq, self.end = seq, self.end + len(line)
            self._cond.notify_all()
            return Logged(event, raw, self.end)

    def read(self, offset: int, limit: int = 256) -> list[Logged]:
        """Up to ``limit`` events from ``offset`` (0 or the end of a line) on; a line that does
        not parse is skipped with a warning (it was never an event the index answered for)."""
        end, found = self.end, list[Logged]()
        while offset < end and len(found) < limit:
            block = os.pread(self._fd, min(READ_CHUNK, end - offset), offset)
            if b"\n" not in block:  # a line longer than a chunk: read it whole
                block = os.pread(self._fd, end - offset, offset)
            lines = block.split(b"\n")[:-1]  # the last piece is a line cut by the chunk (or empty)
            for raw in lines:
                offset += len(raw) + 1
                try:
                    found.append(Logged(parse_event(raw), raw, offset))
                except (ValueError, KeyError, TypeError):
                    print(f"events: skipped a line of {self.path} that is no event: {raw[:80]!r}", file=sys.stderr)
                if len(found) == limit:
                    break
        return found

    def before(self, offset: int) -> Event | None:
        """The event whose line ends at ``offset``; None at 0, or where no event's line ends there
        (the journal was replaced since the offset was taken)."""
        if offset <= 0 or offset > os.fstat(self._fd).st_size:
            return None
        raw = os.pread(self._fd, offset - (start := self._line_start(offset)), start)
        if not raw.endswith(b"\n"):
            return None
        try:
            return parse_event(raw[:-1])
        except (ValueError, KeyError, TypeError):
            return None

    def _line_start(self, offset: int) -> int:
        """Where the line that ends at ``offset`` begins."""
        pos = offset - 1  # its newline
        while pos > 0:
            begin = max(0, pos - READ_CHUNK)
            cut = os.pread(self._fd, pos - begin, begin).rfind(b"\n")
            if cut >= 0:
                return begin + cut + 1
            pos = begin
        return 0

    def _last_seq(self) -> int:
        """The sequence number of the last event (lines that are no event are passed over)."""
        offset = self.end
        while offset > 0:
            event = self.before(offset)
            if event is not None:
                return event.seq
            offset = self._line_start(offset)
        return 0

    def wait(self, offset: int, timeout: float) -> bool:
        """Wait until there is something past ``offset`` (True) or ``timeout`` passed (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.end > offset, timeout)

    def close(self) -> None:
        os.close(self._fd)


Listener = Callable[[Logged], None]


class EventLog:
    """What the store tells of its writes, turned into events: recorded in the journal, then
    handed to the listeners (the feeds). A listener that fails is logged; the write stands."""

    def __init__(self, root: Path) -> None:
        self.journal = Journal(root / EVENTS_DIR)
        self.listeners: list[Listener] = []

    def landed(self, project: str, facts: FileFacts, files: Iterable[str], user: str | None) -> Logged | None:
        """A file landed (``files``: every file of the index, it included): a release when it is
        the first file of its version."""
        version = _version_of(facts.filename)
        if version is None:
            return None
        if any(n != facts.filename and _project_of(n) == project and _same(_version_of(n), version)
               for n in files):
            return None
        return self._record("release", project, version, [facts.filename], user, facts.upload_time)

    def noted(self, kind: str, project: str, version: Version, files: Iterable[str], user: str | None,
              **extra: str | None) -> Logged:
        """A yank, unyank or image record of ``version`` of ``project`` (a reason; a target and image)."""
        same = sorted(n for n in files if _project_of(n) == project and _same(_version_of(n), str(version)))
        if extra.get("reason"):
            extra["reason"] = str(extra["reason"])[:MAX_REASON]
        return self._record(kind, project, str(version), same, user, None, extra)

    def deleted(self, project: str, version: str, files: Iterable[str], user: str, reason: str) -> Logged:
        """Retention deleted ``files``, the version ``version`` of ``project``, for ``reason``."""
        names = sorted(files)
        spelt = next((v for n in names if (v := _version_of(n)) is not None), version)
        return self._record("delete", project, spelt, names, user, None, {"reason": reason[:MAX_REASON]})

    def _record(self, kind: str, project: str, version: str, files: list[str], user: str | None,
                when: str | None, extra: Mapping[str, str | None] | None = None) -> Logged:
        logged = self.journal.append(kind, project, version, when or upload_time(), files, user, extra)
        for listener in list(self.listeners):
            try:
                listener(logged)
            except Exception as exc:
                print(f"events: {kind} of {project} {version} recorded, a listener failed: "
                      f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return logged


def _project_of(filename: str) -> str | None:
    guessed = guess_pkgname_and_version(filename)
    return canonicalize_name(guessed[0]) if guessed else None


def _version_of(filename: str) -> str | None:
    """The version a file name carries, as it spells it."""
    if filename.endswith(".whl") and filename.count("-") >= 4:
        return filename.split("-")[1]  # name-version(-build)-python-abi-platform.whl
    guessed = guess_pkgname_and_version(filename)
    return guessed[1] if guessed else None


def _same(a: str | None, b: str) -> bool:
    """One version however it is spelt (1.1 and 1.1.0)."""
    if a is None:
        return False
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b
