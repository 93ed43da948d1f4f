"""The read path of a release's documents: ``/packages/<file>.provenance.json``,
``/helpers/<name>/<version>/<target>.cdx.json`` and ``/helpers/<name>/<version>/release.json``
(its lock entry), from the files ``attestations.py`` and ``records.py`` store (the
nginx front serves them from disk too, falling back to here). Other requests pass through."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from helperhub.registry.server.attestations import served_path
from helperhub.registry.server.auth import Htpasswd, authenticated_user
from helperhub.registry.server.records import served_record

WsgiApp = Callable[..., Any]
JSON = "application/json"
CACHE = "no-cache"  # absent until the release attaches it: revalidate (a 304 is cheap)


class AttestationReads:
    """With ``auth_reads`` the documents need a login of ``htpasswd``, as every other read does."""

    def __init__(self, app: WsgiApp, root: Path, htpasswd: Htpasswd | None = None, auth_reads: bool = False) -> None:
        self.app, self.root, self.htpasswd, self.auth_reads = app, root.resolve(), htpasswd, auth_reads

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        asked = environ.get("PATH_INFO", "")
        path = (served_path(self.root, asked) or served_record(self.root, asked)) if method in ("GET", "HEAD") else None
        if path is None:
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        if self.auth_reads and authenticated_user(self.htpasswd, environ.get("HTTP_AUTHORIZATION")) is None:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="helperhub"'),
                                                ("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]
        try:
            body = path.read_bytes()
        except OSError:
            message = b"no such document: the release has not attached it\n"
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8"),
                                              ("Content-Length", str(len(message)))])
            return [message]
        etag = f'"{hashlib.sha256(body).hexdigest()}"'
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", [("ETag", etag), ("Cache-Control", CACHE)])
            return [b""]
        start_response("200 OK", [("Content-Type", JSON), ("Content-Length", str(len(body))), ("ETag", etag),
                                  ("Cache-Control", CACHE)])
        return [b""] if method == "HEAD" else [body]
