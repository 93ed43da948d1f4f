"""The catalog's routes: ``/`` (``/?q=`` filtered, for browsers without JavaScript) and
``/helpers/<name>/``, answered from the catalog cache, and the Atom feeds ``/feed.atom`` and
``/helpers/<name>/feed.atom`` from the feed cache; a non-canonical name is redirected to the
canonical URL, an unknown one gets a short page leading back to the catalog. Routing is a pure
function; the middleware only looks pages up (and filters for ``?q=``)."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, quote

from packaging.utils import canonicalize_name

from helperhub.registry.server.auth import Htpasswd, authenticated_user
from helperhub.registry.server.catalog.atom import ATOM_TYPE, FEED_NAME
from helperhub.registry.server.catalog.cache import CatalogCache
from helperhub.registry.server.catalog.feeds import FeedCache
from helperhub.registry.server.catalog.pages import render_not_found
from helperhub.registry.server.simple.pages import Page

WsgiApp = Callable[..., Any]
HTML = "text/html; charset=utf-8"
PAGE_CACHE = "no-cache"  # the catalog changes on release: revalidate (a 304 is cheap)
HELPERS = "/helpers/"
NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")  # what a project name can be spelled with

Kind = Literal["catalog", "filter", "helper", "names", "feed", "redirect", "missing", "other"]
NAMES = "/helpers.json"  # {"helpers": [canonical names]}: the catalog's rule, for `helpers list`


@dataclass(frozen=True)
class Route:
    kind: Kind
    # the query (filter), canonical name (helper; feed: "" for the index's), Location (redirect), name (missing)
    value: str = ""


def catalog_query(query_string: str) -> str:
    """The ``q`` parameter of a query string ("" when absent)."""
    return parse_qs(query_string).get("q", [""])[0]


def route(path: str, query_string: str = "") -> Route:
    """Which catalog answer a GET of ``path`` gets; ``other`` for the paths the catalog leaves alone."""
    if path == NAMES:
        return Route("names")
    if path == "/":
        query = catalog_query(query_string)
        return Route("filter", query) if query.strip() else Route("catalog")
    if path == f"/{FEED_NAME}":
        return Route("feed")
    if path in (HELPERS, HELPERS.rstrip("/")):
        return Route("redirect", "/")
    if not path.startswith(HELPERS):
        return Route("other")
    name, slash, rest = path[len(HELPERS):].partition("/")
    feed = rest == FEED_NAME
    if (rest and not feed) or not NAME.fullmatch(name):
        return Route("missing", name)
    canonical = canonicalize_name(name)
    if canonical != name or not slash:
        page = f"{HELPERS}{quote(canonical)}/" + (FEED_NAME if feed else "")
        return Route("redirect", page + (f"?{query_string}" if query_string else ""))
    if feed:
        return Route("feed", canonical)
    return Route("helper", canonical)


def home_link(path: str) -> str:
    """The relative link from ``path`` back to the catalog (``/helpers/x/`` -> ``../../``)."""
    return "../" * (path.count("/") - 1) or "./"


class CatalogReads:
    """With ``auth_reads`` the catalog needs a login of ``htpasswd``, as every other read does."""

    def __init__(self, app: WsgiApp, catalog: CatalogCache, htpasswd: Htpasswd | None = None,
                 auth_reads: bool = False, feeds: FeedCache | None = None) -> None:
        self.app, self.catalog, self.htpasswd, self.auth_reads = app, catalog, htpasswd, auth_reads
        self.feeds = feeds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        path = environ.get("PATH_INFO", "")
        found = route(path, environ.get("QUERY_STRING", ""))
        if found.kind == "other":
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        if self.auth_reads and authenticated_user(self.htpasswd, environ.get("HTTP_AUTHORIZATION")) is None:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="helperhub"'),
                                                ("Content-Type", "text/plain"), ("Content-Length", "0")])
            return [b""]
        if found.kind == "redirect":
            start_response("301 Moved Permanently", [("Location", found.value), ("Content-Length", "0")])
            return [b""]
        if found.kind == "catalog":
            return self._page(environ, start_response, self.catalog.root())
        if found.kind == "names":
            names = json.dumps({"helpers": sorted(self.catalog.helper_names())}).encode()
            return self._body(environ, start_response, "200 OK", names, content_type="application/json")
        if found.kind == "filter":
            return self._body(environ, start_response, "200 OK", self.catalog.filtered(found.value))
        if found.kind == "feed":
            feed = self._feed(found.value)
            if feed is not None:
                return self._page(environ, start_response, feed, ATOM_TYPE)
        page = self.catalog.helper(found.value) if found.kind == "helper" else None
        if page is not None:
            return self._page(environ, start_response, page)
        near = difflib.get_close_matches(canonicalize_name(found.value), self.catalog.helper_names(), n=3)
        body = render_not_found(found.value, home_link(path), near).encode("utf-8")
        return self._body(environ, start_response, "404 Not Found", body)

    def _feed(self, name: str) -> Page | None:
        """The index's feed (``name`` ""), or a project's; an empty one for a helper without events."""
        if self.feeds is None:
            return None
        feed = self.feeds.feed(name or None)
        if feed is None and (not name or self.catalog.helper(name) is not None):
            feed = self.feeds.empty(name or None)
        return feed

    def _page(self, environ: dict[str, Any], start_response: Callable[..., Any], page: Page,
              content_type: str = HTML) -> Iterable[bytes]:
        if environ.get("HTTP_IF_NONE_MATCH") == page.etag:
            start_response("304 Not Modified", [("ETag", page.etag), ("Cache-Control", PAGE_CACHE)])
            return [b""]
        return self._body(environ, start_response, "200 OK", page.body, [("ETag", page.etag)], content_type)

    def _body(self, environ: dict[str, Any], start_response: Callable[..., Any], status: str, body: bytes,
              extra: list[tuple[str, str]] | None = None, content_type: str = HTML) -> Iterable[bytes]:
        start_response(status, [*(extra or []), ("Cache-Control", PAGE_CACHE), ("Content-Type", content_type),
                                ("Content-Length", str(len(body)))])
        return [b""] if environ.get("REQUEST_METHOD") == "HEAD" else [body]
