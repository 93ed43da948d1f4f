"""The catalog pages, rendered once per change like the simple pages: ``/`` (the helpers, the mirror
apart), ``/helpers/<name>/`` per helper, and each helper's item of the list, so that ``/?q=`` is
answered with a filter over the items in memory and a join. Kept in memory for the registry and
written under the package folder's hidden ``.catalog/`` for the nginx front (``index.html`` and
``helpers/<name>/index.html``).

What changes a page: an upload (files, a project turning into a helper with its first sdist), a
yank, an image recorded, and the owners (the owners file is re-read when it changes; a change is
seen at the next of the other changes)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from helperhub.core.fs import atomic_write_text
from helperhub.core.metadata import CoreMetadata, parse_core_metadata
from helperhub.registry.server.catalog.data import build_entry, is_helper, third_party
from helperhub.registry.server.catalog.model import HelperEntry, ThirdParty, query_terms, search_text
from helperhub.registry.server.catalog.pages import (
    catalog_order,
    render_catalog_page,
    render_entry,
    render_helper,
    render_third_party,
)
from helperhub.registry.server.catalog.project_page import render_project_page
from helperhub.registry.server.metadata import FileFacts
from helperhub.registry.server.simple.pages import Page, as_page
from helperhub.registry.server.stamps import Stamps, stamp_of

CATALOG_DIR = ".catalog"  # under the package folder: hidden, so pypiserver never lists it
RENDERER = "catalog-2"  # bump when a page's text changes for the same facts: every page is rendered again
MAX_QUERY = 200  # characters of a ?q= filter that count; the rest is ignored


@dataclass(frozen=True)
class Sources:
    """Where the catalog reads, when it renders, what the store keeps: so of two concurrent changes
    the later rendering shows both, whichever order they arrive in."""

    metadata: Callable[[str], bytes | None]  # a file's METADATA / PKG-INFO
    owners: Callable[[str], tuple[str, ...]]
    yanked: Callable[[str], Mapping[str, str]]  # version -> reason
    images: Callable[[str], Mapping[str, Mapping[str, str]]]  # version -> target -> repo@sha256:...
    is_helper: Callable[[str, Iterable[str]], bool] = is_helper  # the release records' rule
    used_by: Callable[[str], list[tuple[str, str]]] = lambda _name: []  # helper releases mirroring a file


@dataclass(frozen=True)
class Listed:
    """A helper's item of the catalog list, rendered, with what the filter looks in."""

    name: str
    search: str
    html: str


@dataclass(frozen=True)
class Listing:
    """The parts of the catalog page at one moment, read as one value by a request."""

    items: tuple[Listed, ...] = ()  # in catalog order
    mirror: str = ""  # the third-party section

    def page(self, query: str = "") -> str:
        """The catalog page filtered by ``query``: the items whose search text holds every word."""
        terms = query_terms(query)
        shown = [item.html for item in self.items if all(term in item.search for term in terms)]
        return render_catalog_page(shown, len(self.items), self.mirror, query)


class CatalogCache:
    def __init__(self, static_root: Path | None, index_url: str, sources: Sources) -> None:
        self.static_root, self.index_url, self.sources = static_root, index_url, sources
        self._lock = threading.Lock()
        self._files: dict[str, dict[str, FileFacts]] = {}
        self._metadata: dict[str, CoreMetadata | None] = {}
        self._entries: dict[str, HelperEntry] = {}
        self._items: dict[str, Listed] = {}
        self._mirror: dict[str, ThirdParty] = {}
        self._pages: dict[str, Page] = {}
        self._kept: set[str] = set()  # helper pages on disk whose stamp matched: read when first asked
        self._stamps = Stamps(static_root)
        self.listing = Listing()
        self._shown: tuple[HelperEntry, ...] = ()  # what the pages show, replaced whole on a change
        self._shown_mirror: tuple[ThirdParty, ...] = ()
        self._root_text = self._on_disk(Path("index.html"))  # what index.html holds
        self._root = as_page(self._root_text or self.listing.page())  # until the first rendering

    # -- reads (no lock: each reads one value that a change replaces whole) ----------------------
    def root(self) -> Page:
        return self._root

    def helper(self, name: str) -> Page | None:
        """The page of a helper by its canonical name."""
        page = self._pages.get(name)
        kept = name in self._kept or not self._entries  # before the first rendering: what is on disk
        if page is None and kept and (text := self._on_disk(Path("helpers", name, "index.html"))):
            page = self._pages[name] = as_page(text)
        if page is None and name in self._mirror:  # a third-party project: rendered when asked
            page = as_page(render_project_page(name, self._files.get(name, {}).values(), self.sources.used_by))
        return page

    def filtered(self, query: str) -> bytes:
        return self.listing.page(query[:MAX_QUERY]).encode("utf-8")

    def helper_names(self) -> list[str]:
        return [entry.name for entry in self._shown]

    def entries(self) -> list[HelperEntry]:
        """The helpers as last rendered, in catalog order."""
        return list(self._shown)

    def third_party(self) -> list[ThirdParty]:
        return list(self._shown_mirror)

    # -- changes ----------------------------------------------------------------------------------
    def rebuild(self, files: Mapping[str, FileFacts], project_of: Mapping[str, str]) -> None:
        """Every page from the store's files (name -> facts) and each file's canonical project."""
        with self._lock:
            self._files = {}
            for name, facts in files.items():
                self._files.setdefault(project_of[name], {})[name] = facts
            self._update(list(self._files))
            self._drop_stale_pages()
        self._stamps.save()

    def add(self, project: str, facts: FileFacts) -> None:
        """A file landed."""
        with self._lock:
            self._files.setdefault(project, {})[facts.filename] = facts
            self._update([project])

    def removed(self, project: str, names: set[str]) -> None:
        """Files of ``project`` were deleted (retention)."""
        with self._lock:
            kept = {n: f for n, f in self._files.get(project, {}).items() if n not in names}
            self._files[project] = kept
            self._update([project])

    def changed(self, project: str) -> None:
        """A version of ``project`` was yanked or unyanked, or its image recorded."""
        with self._lock:
            if project in self._files:
                self._update([project])

    # -- rendering (under the lock) ---------------------------------------------------------------
    def _update(self, projects: Iterable[str]) -> None:
        """Re-render the pages of ``projects``, of helpers whose owners changed, and the catalog.

        A page that fails to render must not fail the change behind it, which has happened: that
        page keeps its last rendering, the error is logged and the others are rendered."""
        dirty = set(projects)
        # owners come from a file re-read when it changes: look at every helper's on each change
        dirty |= {p for p, entry in self._entries.items() if self.sources.owners(p) != entry.owners}
        for project in sorted(dirty):
            _guarded(f"the page of {project}", partial(self._render_project, project))
        _guarded("the catalog page", self._render_root)

    def _parsed(self, filename: str) -> CoreMetadata | None:
        if filename not in self._metadata:
            raw = self.sources.metadata(filename)
            self._metadata[filename] = parse_core_metadata(raw) if raw is not None else None
        return self._metadata[filename]

    def _render_project(self, project: str) -> None:
        files = self._files.get(project, {})
        if not self.sources.is_helper(project, files):
            self._mirror[project] = third_party(project, files)
            for held in (self._entries, self._items, self._pages):  # a release recorded it as mirrored
                held.pop(project, None)
            self._kept.discard(project)
            return
        self._mirror.pop(project, None)
        entry = build_entry(project, files.values(), self._parsed, yanked=self.sources.yanked(project),
                            owners=self.sources.owners(project), images=self.sources.images(project))
        if entry is None or self._entries.get(project) == entry:
            return
        stamp = stamp_of(RENDERER, self.index_url, repr(entry))
        page = Path("helpers", project, "index.html")
        if project not in self._entries and self._stamps.matches(project, stamp) and self._exists(page):
            self._kept.add(project)  # rendered from these very facts by an earlier start
        else:
            text = render_helper(entry, self.index_url)
            self._write(page, text)
            self._pages[project] = as_page(text)
            self._kept.discard(project)
            self._stamps.record(project, stamp)
        self._entries[project] = entry
        self._items[project] = Listed(project, search_text(entry), render_entry(entry))

    def _render_root(self) -> None:
        order = catalog_order(self._entries.values())
        mirror = sorted(self._mirror.values(), key=lambda p: p.name)
        listing = Listing(tuple(self._items[e.name] for e in order), render_third_party(mirror))
        text = listing.page()
        if text != self._root_text:  # a yank of an older version, say, leaves the list as it is
            self._write(Path("index.html"), text)
            self._root_text, self._root = text, as_page(text)
        self.listing, self._shown, self._shown_mirror = listing, tuple(order), tuple(mirror)

    def _drop_stale_pages(self) -> None:
        """Pages on disk of helpers the folder no longer holds (files removed by hand)."""
        if self.static_root is None or not (self.static_root / "helpers").is_dir():
            return
        for page in (self.static_root / "helpers").glob("*/index.html"):
            if page.parent.name not in self._entries:
                page.unlink(missing_ok=True)
        self._stamps.forget(self._stamps.keys() - self._entries.keys())

    def _on_disk(self, relative: Path) -> str:
        if self.static_root is None:
            return ""
        try:
            return (self.static_root / relative).read_text(encoding="utf-8")
        except OSError:
            return ""

    def _exists(self, relative: Path) -> bool:
        return self.static_root is not None and (self.static_root / relative).is_file()

    def _write(self, relative: Path, text: str) -> None:
        if self.static_root is not None:
            atomic_write_text(self.static_root / relative, text)


def _guarded(what: str, render: Callable[[], None]) -> None:
    try:
        render()
    except Exception as exc:
        print(f"catalog: {what} not updated: {type(exc).__name__}: {exc}", file=sys.stderr)
