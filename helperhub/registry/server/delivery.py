"""Webhook delivery, at least once: the journal is the outbox. One thread per hook reads it from
its cursor (the byte offset past the last event a receiver answered 2xx for, written atomically
under ``.events/cursors/``), POSTs each event the hook wants, and tries a failed one again after a
wait that doubles up to a cap, as long as it takes; after a restart it resumes from the cursor.
The request path only appends to the journal, so a slow or dead receiver never slows an upload.

A delivery is the event's journal line as the body, with ``X-Helperhub-Event`` (its kind),
``X-Helperhub-Delivery`` (its id: a receiver may see an event twice, never with two ids) and
``X-Helperhub-Signature-256: sha256=<hex HMAC-SHA256 of the body with the hook's secret>``."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import ssl
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from helperhub.core.fs import atomic_write_text
from helperhub.registry.server.events import Journal, Logged
from helperhub.registry.server.webhooks import Hook, WebhookSettings

CURSORS = "cursors"
IDLE_WAIT = 30.0  # seconds a thread with nothing to deliver sleeps between looks (new events wake it)
USER_AGENT = "helperhub-registry"


def signature(secret: bytes, body: bytes) -> str:
    """The value of X-Helperhub-Signature-256 for ``body``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def request_headers(hook: Hook, logged: Logged) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT,
            "X-Helperhub-Event": logged.event.event, "X-Helperhub-Delivery": logged.event.id,
            "X-Helperhub-Signature-256": signature(hook.secret, logged.raw)}


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> str | None:
    """POST ``body``; None when the receiver answered 2xx, else what went wrong (for the log)."""
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request("POST", path, body, {**headers, "Content-Length": str(len(body))})
        resp = conn.getresponse()
        resp.read(1 << 16)
        return None if 200 <= resp.status < 300 else f"HTTP {resp.status}"
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    finally:
        conn.close()


@dataclass(frozen=True)
class Cursor:
    offset: int = 0  # past the last event done with
    id: str = ""  # that event's id: tells a cursor into a journal since replaced


class HookDelivery:
    """One hook's thread."""

    def __init__(self, hook: Hook, journal: Journal, state: Path, settings: WebhookSettings) -> None:
        self.hook, self.journal, self.settings = hook, journal, settings
        self.cursor_path = state / CURSORS / f"{hook.key}.json"
        self._stop = threading.Event()
        self.cursor = self._resume()
        self._thread = threading.Thread(target=self._run, name=f"webhook {hook.name}", daemon=True)

    def _resume(self) -> Cursor:
        """Where the last run stopped; a hook seen for the first time starts at the journal's end
        (it hears of what happens from now on), recorded at once so a crash loses nothing after it."""
        try:
            raw = json.loads(self.cursor_path.read_text())
            cursor = Cursor(int(raw["offset"]), str(raw["id"]))
        except FileNotFoundError:
            cursor = Cursor(self.journal.end, "")
            last = self.journal.before(cursor.offset)
            cursor = Cursor(cursor.offset, last.id if last else "")
            self._save(cursor)
            return cursor
        except (OSError, ValueError, KeyError, TypeError):
            log(f"webhook {self.hook.name}: its cursor {self.cursor_path} is unreadable; delivering the journal "
                "from its start (receivers drop ids they have seen)")
            return Cursor()
        last = self.journal.before(cursor.offset)
        if cursor.offset and (last is None or last.id != cursor.id):
            log(f"webhook {self.hook.name}: the journal changed under its cursor; delivering it from its start")
            return Cursor()
        return cursor

    def _save(self, cursor: Cursor) -> None:
        atomic_write_text(self.cursor_path, json.dumps({"offset": cursor.offset, "id": cursor.id}) + "\n")

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self.journal.read(self.cursor.offset)
                if not batch:
                    self.journal.wait(self.cursor.offset, IDLE_WAIT)
                    continue
                for logged in batch:
                    if self.hook.wants(logged.event) and not self._deliver(logged):
                        return  # stopped
                    self.cursor = Cursor(logged.end, logged.event.id)
                    self._save(self.cursor)
            except Exception as exc:  # a full disk, say: wait, and go on from the cursor
                log(f"webhook {self.hook.name}: {type(exc).__name__}: {exc}")
                self._stop.wait(self.settings.retry_max)

    def _deliver(self, logged: Logged) -> bool:
        """Post until the receiver takes it (True) or the thread is stopped (False)."""
        headers = request_headers(self.hook, logged)
        wait = self.settings.retry_min
        while not self._stop.is_set():
            failure = post(self.hook.url, logged.raw, headers, self.settings.timeout)
            if failure is None:
                return True
            log(f"webhook {self.hook.name}: event {logged.event.id} not delivered ({failure}); "
                f"next try in {wait:g} s")
            if self._stop.wait(wait):
                break
            wait = min(wait * 2, self.settings.retry_max)
        return False


def start_deliveries(settings: WebhookSettings, journal: Journal, state: Path) -> list[HookDelivery]:
    """A running delivery thread per hook (``state``: the journal's folder, where cursors live)."""
    deliveries = [HookDelivery(hook, journal, state, settings) for hook in settings.hooks]
    for delivery in deliveries:
        delivery.start()
    return deliveries


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
