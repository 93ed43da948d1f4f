"""The read path: simple pages from memory and files from disk, with ETag and Cache-Control,
without pypiserver's per-request folder walk. Everything else goes to pypiserver."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from email.utils import formatdate
from typing import Any

from packaging.utils import canonicalize_name

from helperhub.registry.pages import Page
from helperhub.registry.store import HardenedBackend

WsgiApp = Callable[..., Any]
PAGE_CACHE = "no-cache"  # pages change on release: revalidate (a 304 is cheap)
FILE_CACHE = "public, max-age=31536000, immutable"  # a released file never changes


class FastReads:
    def __init__(self, app: WsgiApp, backend: HardenedBackend) -> None:
        self.app, self.backend = app, backend

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "")
        if method in ("GET", "HEAD"):
            if path == "/simple/":
                return self._page(environ, start_response, self.backend.pages.root_page)
            if path.startswith("/simple/") and path.endswith("/") and path.count("/") == 3:
                name = path[len("/simple/"):-1]
                if canonicalize_name(name) != name:
                    start_response("301 Moved Permanently", [("Location", f"/simple/{canonicalize_name(name)}/")])
                    return [b""]
                page = self.backend.pages.get(name)
                if page is not None:
                    return self._page(environ, start_response, page)
            elif path.startswith("/packages/") and path.count("/") == 2:
                served = self._file(environ, start_response, path[len("/packages/"):])
                if served is not None:
                    return served
        return self.app(environ, start_response)  # type: ignore[no-any-return]

    def _page(self, environ: dict[str, Any], start_response: Callable[..., Any], page: Page) -> Iterable[bytes]:
        headers = [("ETag", page.etag), ("Cache-Control", PAGE_CACHE)]
        if environ.get("HTTP_IF_NONE_MATCH") == page.etag:
            start_response("304 Not Modified", headers)
            return [b""]
        headers += [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page.body)))]
        start_response("200 OK", headers)
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [page.body]

    def _file(self, environ: dict[str, Any], start_response: Callable[..., Any], name: str) -> Iterable[bytes] | None:
        sha = self.backend.sha256_of(name)
        if sha is None:
            return None
        etag = f'"{sha}"'
        path = self.backend.root / name
        stat = os.stat(path)
        # Last-Modified: when the file landed (uploads rename into place), which clients show as
        # its release time; stock pypiserver and nginx send it too
        headers = [("ETag", etag), ("Cache-Control", FILE_CACHE),
                   ("Last-Modified", formatdate(stat.st_mtime, usegmt=True))]
        if environ.get("HTTP_IF_NONE_MATCH") == etag:
            start_response("304 Not Modified", headers)
            return [b""]
        headers += [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes")]
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
