"""A webhook receiver on loopback for the registry's deliveries: records every POST, answers with
the status it is set to (after an optional delay), and checks signatures as a receiver would."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .conftest import free_port

SECRET = "a webhook secret: not a password"


@dataclass(frozen=True)
class Delivered:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data

    def signed_with(self, secret: str) -> bool:
        """What a receiver checks: the HMAC of the body, compared in constant time."""
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("X-Helperhub-Signature-256", ""))


@dataclass
class Receiver:
    port: int = field(default_factory=free_port)
    status: int = 200
    delay: float = 0.0  # seconds before answering
    attempts: list[Delivered] = field(default_factory=list)  # every POST, whatever it was answered
    taken: list[Delivered] = field(default_factory=list)  # the POSTs answered 2xx
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/helperhub"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                seen = Delivered(self.path, dict(self.headers.items()), body)
                status, delay = receiver.status, receiver.delay
                with receiver._lock:
                    receiver.attempts.append(seen)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if 200 <= status < 300:
                    with receiver._lock:
                        receiver.taken.append(seen)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Delivered]:
        """The deliveries taken once there are ``count`` distinct event ids among them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                taken = list(self.taken)
            if len({d.headers.get("X-Helperhub-Delivery") for d in taken}) >= count:
                return taken
            time.sleep(0.05)
        raise AssertionError(f"{count} events expected, {len(self.taken)} deliveries taken, "
                             f"{len(self.attempts)} attempts")


def hooks_file(folder: Path, *hooks: str, timing: str = "timeout = 2\nretry-min = 0.05\nretry-max = 0.2\n") -> Path:
    """A webhooks file of ``hooks`` (each the body of a [[hook]] table), with the secret file
    ``hook.secret`` beside it and short retries, so tests never wait long."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "hook.secret").write_text(SECRET + "\n")
    path = folder / "webhooks.toml"
    path.write_text(timing + "".join(f"\n[[hook]]\n{hook}\n" for hook in hooks))
    return path


def journal_ids(packages: Path) -> list[str]:
    """The ids of the events in a registry's journal, in order."""
    journal = packages / ".events" / "journal.jsonl"
    return [json.loads(line)["id"] for line in journal.read_text().splitlines()] if journal.exists() else []


def first_seen(deliveries: list[Delivered]) -> list[str]:
    """The event ids delivered, each once, in the order they first arrived (what a receiver that
    drops duplicates by id keeps)."""
    return list(dict.fromkeys(d.headers["X-Helperhub-Delivery"] for d in deliveries))
