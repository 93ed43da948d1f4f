"""The read path: simple pages (HTML or JSON, as the client asks) from memory and files and
PEP 658 metadata files from disk, with ETag and Cache-Control, without pypiserver's per-request
folder walk. Picking a page's format is the only per-request work. Everything else goes to
pypiserver."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote

from packaging.utils import canonicalize_name

from helperhub.registry.server.auth import Htpasswd, authenticated_user
from helperhub.registry.server.simple.negotiate import CONTENT_TYPES, Format, choose
from helperhub.registry.server.simple.pages import Page
from helperhub.registry.server.store import HardenedBackend

WsgiApp = Callable[..., Any]
HEALTH = "/health"  # {"reads": true, "writes": bool, "catching_up": {"done": n, "total": n}} (until consistent)
PAGE_CACHE = "no-cache"  # pages change on release: revalidate (a 304 is cheap)
FILE_CACHE = "public, max-age=31536000, immutable"  # a released file never changes
METADATA_TYPE = "text/plain; charset=utf-8"  # a wheel's METADATA: email-header text
NOT_ACCEPTABLE = (b"the format= parameter names no format of this index; ask for "
                  b"application/vnd.pypi.simple.v1+json or text/html\n")
PROJECT_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")  # a valid project name (PEP 508)
NO_NAME = b"not a project name: letters, digits, '.', '_' and '-', starting and ending with a letter or digit\n"


class FastReads:
    """With ``auth_reads`` every read needs a login of ``htpasswd`` (none without one), as
    pypiserver would ask for it."""

    def __init__(self, app: WsgiApp, backend: HardenedBackend, htpasswd: Htpasswd | None = None,
                 auth_reads: bool = False) -> None:
        self.app, self.backend, self.htpasswd, self.auth_reads = app, backend, htpasswd, auth_reads

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        if path == HEALTH and method in ("GET", "HEAD"):  # anonymous, for probes, with --auth-reads too
            body = (json.dumps(self.backend.progress.health()) + "\n").encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                                      ("Content-Length", str(len(body)))])
            return [b""] if method == "HEAD" else [body]
        if method not in ("GET", "HEAD") or not path.startswith(("/simple/", "/packages/")):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        if self.auth_reads and authenticated_user(self.htpasswd, environ.get("HTTP_AUTHORIZATION")) is None:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="helperhub"'),
                                                ("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]
        named = path[len("/simple/"):].removesuffix("/")
        if path.startswith("/simple/") and named and "/" not in named and not PROJECT_NAME.fullmatch(named):
            # no project is named so: nothing of it reaches a header (a redirect's Location)
            start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(NO_NAME)))])
            return [NO_NAME]
        if path.startswith("/simple/") and path.endswith("/") and path.count("/") in (2, 3):
            fmt = choose(environ.get("HTTP_ACCEPT"), environ.get("QUERY_STRING", ""))
            if fmt is None:
                start_response("406 Not Acceptable", [("Content-Type", "text/plain"), ("Vary", "Accept"),
                                                      ("Content-Length", str(len(NOT_ACCEPTABLE)))])
                return [NOT_ACCEPTABLE]
            if path == "/simple/":
                return self._page(environ, start_response, self.backend.pages.root(fmt), fmt)
            name = path[len("/simple/"):-1]
            if canonicalize_name(name) != name:
                query = quote(environ.get("QUERY_STRING", ""), safe="=&;%+/")
                location = f"/simple/{canonicalize_name(name)}/" + (f"?{query}" if query else "")
                start_response("301 Moved Permanently", [("Location", location), ("Vary", "Accept")])
                return [b""]
            page = self.backend.page(name, fmt)
            if page is not None:
                return self._page(environ, start_response, page, fmt)
        elif path.startswith("/packages/") and path.count("/") == 2:
            name = path[len("/packages/"):]
            metadata = self.backend.metadata_file(name)
            if metadata is not None:
                return self._file(environ, start_response, metadata[0], metadata[1], METADATA_TYPE)
            sha = self.backend.sha256_of(name)
            if sha is not None:
                return self._file(environ, start_response, self.backend.root / name, sha, "application/octet-stream")
        return self.app(environ, start_response)  # type: ignore[no-any-return]

    def _page(self, environ: dict[str, Any], start_response: Callable[..., Any], page: Page,
              fmt: Format) -> Iterable[bytes]:
        # the same URL answers in two formats: caches must key on Accept
        headers = [("ETag", page.etag), ("Cache-Control", PAGE_CACHE), ("Vary", "Accept")]
        if environ.get("HTTP_IF_NONE_MATCH") == page.etag:
            start_response("304 Not Modified", headers)
            return [b""]
        headers += [("Content-Type", CONTENT_TYPES[fmt]), ("Content-Length", str(len(page.body)))]
        start_response("200 OK", headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [page.body]

    def _file(self, environ: dict[str, Any], start_response: Callable[..., Any], path: Path, sha: str,
              content_type: str) -> Iterable[bytes]:
        etag = f'"{sha}"'
        stat = os.stat(path)
        # Last-Modified: when the file landed (uploads rename into place), which clients show as
        # its release time; stock pypiserver and nginx send it too
        headers = [("ETag", etag), ("Cache-Control", FILE_CACHE),
                   ("Last-Modified", formatdate(stat.st_mtime, usegmt=True))]
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", headers)
            return [b""]
        headers += [("Content-Type", content_type), ("Accept-Ranges", "bytes")]
        size = stat.st_size
        # one byte range (uv and pip read a wheel's METADATA from its end this way instead of
        # downloading it whole); several ranges get the whole file, as RFC 9110 allows
        span = byte_range(environ.get("HTTP_RANGE", ""), size)
        if span == UNSATISFIABLE:
            start_response("416 Range Not Satisfiable", [*headers, ("Content-Range", f"bytes */{size}"),
                                                          ("Content-Length", "0")])
            return [b""]
        start, end = span or (0, size - 1)
        length = max(end - start + 1, 0)
        if span:
            start_response("206 Partial Content", [*headers, ("Content-Range", f"bytes {start}-{end}/{size}"),
                                                   ("Content-Length", str(length))])
        else:
            start_response("200 OK", [*headers, ("Content-Length", str(size))])
        if environ.get("REQUEST_METHOD") == "HEAD":
            return [b""]
        fh = open(path, "rb")  # noqa: SIM115  (closed by the server through the file wrapper)
        if span:
            fh.seek(start)
            return _read(fh, length)
        wrapper = environ.get("wsgi.file_wrapper")
        return wrapper(fh, 1 << 16) if wrapper else iter(lambda: fh.read(1 << 16), b"")


UNSATISFIABLE = (-1, -1)
RANGE = re.compile(r"bytes=(?P<first>[0-9]*)-(?P<last>[0-9]*)", re.IGNORECASE)  # one range; ASCII digits


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a single ``Range: bytes=...`` within ``size``; None to serve the
    whole file (no header, several ranges, not bytes, malformed); UNSATISFIABLE for a range
    that starts past the end."""
    match = RANGE.fullmatch(header.strip())
    if match is None or not (match["first"] or match["last"]):
        return None
    first, last = match["first"], match["last"]
    if not first:  # the last N bytes
        n = int(last)
        return (max(size - n, 0), size - 1) if n > 0 and size > 0 else UNSATISFIABLE
    start = int(first)
    if start >= size:
        return UNSATISFIABLE
    end = min(int(last), size - 1) if last else size - 1
    return None if end < start else (start, end)


def _read(fh: Any, length: int) -> Iterable[bytes]:
    """``length`` bytes from ``fh``'s position in chunks, then close it."""
    try:
        while length > 0:
            chunk = fh.read(min(1 << 16, length))
            if not chunk:
                break
            length -= len(chunk)
            yield chunk
    finally:
        fh.close()
