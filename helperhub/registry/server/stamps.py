"""What a page on disk was rendered from, so a restart rewrites only the pages whose inputs changed.

A stamp is a hash of everything a page shows (the project's file facts, yanks, owners, images,
the public URL) and of the renderer's version, recorded per project in one file beside the pages.
The stamps file is saved after the pages it describes are on disk, and may lag behind them: a
stamp that is missing or old only makes the next start render that page again, so a crash never
leaves a stale page trusted."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

from helperhub.core.fs import atomic_write_text

STAMPS_FILE = ".stamps.json"
SAVE_EVERY = 2.0  # seconds: changes in between are saved together (a lag costs re-renders only)


def stamp_of(*parts: object) -> str:
    """A stable hash of JSON-able parts (sorted keys, so dict order never changes a stamp)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Stamps:
    """The stamps of the pages on disk under ``folder`` (None: nothing is written, nothing kept)."""

    def __init__(self, folder: Path | None) -> None:
        self.path = folder / STAMPS_FILE if folder is not None else None
        self._lock = threading.Lock()
        self._stamps: dict[str, str] = self._read()
        self._saved_at = 0.0
        self._unsaved = False
        self._timer: threading.Timer | None = None

    def _read(self) -> dict[str, str]:
        if self.path is None:
            return {}
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        stamps = raw.get("stamps") if isinstance(raw, dict) else None
        if not isinstance(stamps, dict):
            return {}
        return {k: v for k, v in stamps.items() if isinstance(k, str) and isinstance(v, str)}

    def matches(self, key: str, stamp: str) -> bool:
        return self._stamps.get(key) == stamp

    def record(self, key: str, stamp: str) -> None:
        """Record ``stamp`` for a page just written; saved within SAVE_EVERY seconds."""
        with self._lock:
            self._stamps[key] = stamp
            self._unsaved = True
            if self.path is None or self._timer is not None:
                return
            delay = max(0.0, self._saved_at + SAVE_EVERY - time.monotonic())
            self._timer = threading.Timer(delay, self.save)
            self._timer.daemon = True
            self._timer.start()

    def forget(self, keys: set[str]) -> None:
        with self._lock:
            for key in keys & self._stamps.keys():
                del self._stamps[key]
                self._unsaved = True

    def keys(self) -> set[str]:
        return set(self._stamps)

    def save(self) -> None:
        """Write the stamps now, if any changed (after the pages they stamp are on disk)."""
        with self._lock:
            self._timer = None
            if self.path is None or not self._unsaved:
                return
            text = json.dumps({"stamps": self._stamps}, sort_keys=True, separators=(",", ":"))
            self._unsaved = False
            self._saved_at = time.monotonic()
        try:
            atomic_write_text(self.path, text)
        except OSError:
            with self._lock:
                self._unsaved = True  # saved with the next change; a lag costs re-renders only
