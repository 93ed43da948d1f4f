"""How far a start has caught up, for ``GET /health`` and the write path.

A start binds its port once it has read the record and listed the folder; hashing files the
record lacks, checking metadata files, rendering pages whose stamps do not match and the catalog
happen after, in a thread, while reads are answered (a read of a project not reached yet is
served from that project's files at once). Writes wait until it is done: an upload is answered
503 with Retry-After, which the release's client waits out."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

RETRY_AFTER = 5  # seconds an upload refused during a catch-up is told to wait


class CatchUpProgress:
    """Work done of work known; ``consistent`` once the store accepts writes."""

    def __init__(self, total: int = 0) -> None:
        self._lock = threading.Lock()
        self.done, self.total = 0, total
        self.consistent = threading.Event()

    def advance(self, n: int = 1) -> None:
        with self._lock:
            self.done = min(self.done + n, self.total)

    def grow(self, n: int) -> None:
        with self._lock:
            self.total += n

    def finish(self) -> None:
        with self._lock:
            self.done = self.total
        self.consistent.set()

    def health(self) -> dict[str, Any]:
        """The ``/health`` answer: reads are always served; writes once consistent."""
        if self.consistent.is_set():
            return {"reads": True, "writes": True}
        with self._lock:
            return {"reads": True, "writes": False, "catching_up": {"done": self.done, "total": self.total}}


def start_catch_up(catch_up: Callable[[], None], then: Callable[[], None] | None = None) -> threading.Thread:
    """Run ``catch_up`` in a daemon thread, then ``then``; a failure is logged and leaves writes
    refused (the store is not known to be consistent), reads go on."""

    def run() -> None:
        try:
            catch_up()
            if then is not None:
                then()
        except Exception as exc:
            print(f"registry: catching up failed, writes stay refused: {type(exc).__name__}: {exc}",
                  file=sys.stderr)

    thread = threading.Thread(target=run, name="catch-up", daemon=True)
    thread.start()
    return thread
