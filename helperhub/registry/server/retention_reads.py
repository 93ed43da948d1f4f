"""What retention serves: a deleted file (or its metadata file or provenance) answers 410 Gone
with the reason it was deleted, never 404; ``/-/registrations.json`` lists the registered locks
(for ``helperhub who-pins --index``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from helperhub.registry.server.auth import Htpasswd, authenticated_user
from helperhub.registry.server.gc import Retention

WsgiApp = Callable[..., Any]
REGISTRATIONS_PATH = "/-/registrations.json"


class RetentionReads:
    def __init__(self, app: WsgiApp, retention: Retention, htpasswd: Htpasswd | None, auth_reads: bool) -> None:
        self.app, self.retention, self.htpasswd, self.auth_reads = app, retention, htpasswd, auth_reads

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        gone = None
        if method in ("GET", "HEAD") and path.startswith("/packages/") and path.count("/") == 2:
            gone = self.retention.tombstones.reason(path[len("/packages/"):])
        if gone is None and not (method in ("GET", "HEAD") and path == REGISTRATIONS_PATH):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        if self.auth_reads and authenticated_user(self.htpasswd, environ.get("HTTP_AUTHORIZATION")) is None:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="helperhub"'),
                                                ("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]
        if gone is not None:
            body = (f"{gone.file} was deleted on {gone.deleted_at[:10]} by retention ({gone.project} "
                    f"{gone.version}): {gone.reason}\n").encode()
            status, kind = "410 Gone", "text/plain; charset=utf-8"
        else:
            body = (json.dumps(self.retention.registered(), indent=1) + "\n").encode()
            status, kind = "200 OK", "application/json"
        start_response(status, [("Content-Type", kind), ("Cache-Control", "no-cache"),
                                ("Content-Length", str(len(body)))])
        return [b""] if method == "HEAD" else [body]
