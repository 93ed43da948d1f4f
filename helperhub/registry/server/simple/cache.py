"""The simple pages of every project, in memory for the registry and on disk for a front server
(``index.html`` and ``index.json`` per project under ``.simple/``).

A start keeps every page on disk whose stamp (stamps.py) says it was rendered from the facts the
store has now, and reads it into memory when first asked; the others are dirty: rendered on
demand, or by the store's catch-up in batches (one ``os.sync()`` per batch instead of fsyncs per
page). A page is always written whole (temp file and rename), so a reader never sees half a page."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from packaging.utils import canonicalize_name

from helperhub.core.fs import atomic_write_text
from helperhub.registry.server.metadata import FileFacts
from helperhub.registry.server.simple.negotiate import Format
from helperhub.registry.server.simple.pages import (
    PAGE_FILES,
    Page,
    as_page,
    render_project,
    render_project_json,
    render_root,
    render_root_json,
)
from helperhub.registry.server.stamps import Stamps, stamp_of

RENDERER = "simple-2"  # bump when a page's text changes for the same facts: every page is rendered again
BATCH = 500  # pages written between two syncs by a catch-up
ROOT_KEY, RENDERER_KEY = "/", "//renderer"  # stamps beside the projects' (never a project name)


class PageCache:
    """Pages by canonical project name, both formats; a project's pages are rendered again when
    one of its files lands or one of its versions is yanked."""

    def __init__(self, static_root: Path | None) -> None:
        self.static_root = static_root
        self._lock = threading.RLock()
        self._projects: dict[str, dict[str, FileFacts]] = {}
        self._yanked: dict[str, dict[str, str]] = {}
        self._names: set[str] = set()  # every project the root page lists (facts known or not yet)
        self._dirty: set[str] = set()
        self._unchecked: set[str] = set()  # pages on disk trusted at start, their stamps not compared yet
        self._same_renderer = True  # the pages on disk were rendered by this renderer
        self._stamps = Stamps(static_root)
        self.pages: dict[str, Page] = {}
        self.json_pages: dict[str, Page] = {}
        self.root_page = as_page(render_root([]))
        self.root_json = as_page(render_root_json([]))

    # -- start ----------------------------------------------------------------------------------
    def load(self, files: Mapping[str, Mapping[str, FileFacts]], yanked: Mapping[str, Mapping[str, str]],
             names: Iterable[str] = ()) -> None:
        """The facts known at start (project -> file name -> facts) and the names of projects whose
        facts are still to come. Pages on disk are trusted until ``check`` compares their stamps
        (a read checks its own page first); a new renderer makes every page dirty."""
        with self._lock:
            self._projects = {p: dict(f) for p, f in files.items()}
            self._yanked = {p: dict(v) for p, v in yanked.items()}
            self._names = set(self._projects) | set(names)
            self.pages.clear()
            self.json_pages.clear()
            self._same_renderer = self._stamps.matches(RENDERER_KEY, RENDERER)
            self._unchecked = set(self._projects) if self._same_renderer else set()
            self._dirty = set() if self._same_renderer else set(self._projects)
            self._render_root()

    def check(self) -> None:
        """Compare every trusted page's stamp with its facts (a catch-up): a mismatch is dirty."""
        for project in sorted(self._unchecked):
            with self._lock:
                self._check(project)
        self._stamps.record(RENDERER_KEY, RENDERER)

    def _check(self, project: str) -> None:
        if project in self._unchecked:
            self._unchecked.discard(project)
            if not self._stamps.matches(project, self._stamp(project)):
                self._dirty.add(project)

    def rebuild(self, files: Mapping[str, FileFacts | str], project_of: Mapping[str, str],
                yanked: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """All pages from ``files`` (name -> facts, or name -> sha256), each file's canonical project
        and the yanked versions of each project, written before it returns."""
        grouped: dict[str, dict[str, FileFacts]] = {}
        for name, facts in files.items():
            grouped.setdefault(project_of[name], {})[name] = _as_facts(name, facts)
        self.load(grouped, yanked or {})
        self.check()  # a page on disk from other facts is rendered again, not trusted
        self.flush()

    def set_files(self, project: str, files: Mapping[str, FileFacts]) -> None:
        """A project's facts, now known (read from the record or hashed): its pages on disk are
        kept if their stamp matches, else they are dirty."""
        with self._lock:
            self._projects[project] = dict(files)
            self._names.add(project)
            self._unchecked.discard(project)
            if not (self._same_renderer and self._stamps.matches(project, self._stamp(project))):
                self._dirty.add(project)

    def filenames(self, project: str) -> list[str]:
        """The files of a project whose facts are known."""
        return list(self._projects.get(project, {}))

    def dirty(self) -> set[str]:
        return set(self._dirty)

    def flush(self, projects: Iterable[str] | None = None, progress: Callable[[int], None] | None = None) -> int:
        """Render and write the dirty pages (of ``projects``, or all) in batches, each batch made
        durable with one sync before its stamps are recorded. How many projects were rendered."""
        todo = sorted(self._dirty if projects is None else set(projects) & self._dirty)
        for start in range(0, len(todo), BATCH):
            batch = todo[start:start + BATCH]
            stamped: list[tuple[str, str]] = []
            with self._lock:
                for project in batch:
                    if project in self._dirty and project in self._projects:
                        stamped.append((project, self._render(project, durable=False)))
            if stamped and self.static_root is not None:
                os.sync()
            for project, stamp in stamped:
                self._stamps.record(project, stamp)
            if progress is not None:
                progress(len(batch))
        self._stamps.save()
        self._drop_stale()
        return len(todo)

    # -- changes ----------------------------------------------------------------------------------
    def add(self, project: str, filename: str, facts: FileFacts | str) -> None:
        with self._lock:
            self._projects.setdefault(project, {})[filename] = _as_facts(filename, facts)
            self._stamps.record(project, self._render(project))
            if project not in self._names:
                self._names.add(project)
                self._render_root()

    def set_yanked(self, project: str, yanked: Mapping[str, str]) -> None:
        with self._lock:
            self._yanked[project] = dict(yanked)
            if project in self._projects:
                self._stamps.record(project, self._render(project))

    # -- reads ------------------------------------------------------------------------------------
    def get(self, project: str, fmt: Format = "html") -> Page | None:
        """A project's page: from memory, else from disk if its stamp matched at start, else
        rendered now. None for a project whose facts are not known (yet)."""
        project = canonicalize_name(project)
        pages = self.json_pages if fmt == "json" else self.pages
        page = pages.get(project)
        if page is not None:
            return page
        with self._lock:
            if project not in self._projects:
                return None
            self._check(project)
            if project not in self._dirty and self._read(project):
                return pages.get(project)
            self._stamps.record(project, self._render(project))
            return pages.get(project)

    def root(self, fmt: Format = "html") -> Page:
        return self.root_json if fmt == "json" else self.root_page

    # -- rendering (under the lock) ---------------------------------------------------------------
    def _stamp(self, project: str) -> str:
        files = sorted((f.filename, f.record()) for f in self._projects.get(project, {}).values())
        return stamp_of(RENDERER, project, files, self._yanked.get(project, {}))

    def _render(self, project: str, durable: bool = True) -> str:
        """Render and write a project's pages; its stamp."""
        files, yanked = self._projects[project].values(), self._yanked.get(project, {})
        texts: dict[Format, str] = {"html": render_project(project, files, yanked),
                                    "json": render_project_json(project, files, yanked)}
        # the static files first: the front serves them, the in-memory pages follow at once
        self._write(project, texts, durable)
        self.pages[project] = as_page(texts["html"])
        self.json_pages[project] = as_page(texts["json"])
        self._dirty.discard(project)
        return self._stamp(project)

    def _read(self, project: str) -> bool:
        """Load a kept page from disk; False if it is not there (removed by hand)."""
        if self.static_root is None:
            return False
        try:
            texts = {fmt: (self.static_root / project / name).read_bytes() for fmt, name in PAGE_FILES.items()}
        except OSError:
            return False
        self.pages[project] = as_page(texts["html"].decode("utf-8"))
        self.json_pages[project] = as_page(texts["json"].decode("utf-8"))
        return True

    def _render_root(self) -> None:
        """``/simple/``: kept from disk when it lists the same projects, else rendered and written."""
        stamp = stamp_of(RENDERER, sorted(self._names))
        if self._stamps.matches(ROOT_KEY, stamp) and self.static_root is not None:
            try:
                html = (self.static_root / PAGE_FILES["html"]).read_text(encoding="utf-8")
                json = (self.static_root / PAGE_FILES["json"]).read_text(encoding="utf-8")
            except OSError:
                pass
            else:
                self.root_page, self.root_json = as_page(html), as_page(json)
                return
        texts: dict[Format, str] = {"html": render_root(self._names), "json": render_root_json(self._names)}
        self.root_page, self.root_json = as_page(texts["html"]), as_page(texts["json"])
        self._write(None, texts, True)
        self._stamps.record(ROOT_KEY, stamp)

    def _write(self, project: str | None, texts: Mapping[Format, str], durable: bool) -> None:
        if self.static_root is None:
            return
        folder = self.static_root / project if project else self.static_root
        for fmt, text in texts.items():
            atomic_write_text(folder / PAGE_FILES[fmt], text, durable=durable)

    def _drop_stale(self) -> None:
        """Pages and stamps of projects the folder no longer holds (files removed by hand)."""
        with self._lock:
            gone = self._stamps.keys() - self._names - {ROOT_KEY, RENDERER_KEY}
            self._stamps.forget(gone)
        if self.static_root is None:
            return
        for project in gone:
            folder = self.static_root / project
            if folder.is_dir() and not project.startswith("."):
                shutil.rmtree(folder, ignore_errors=True)


def _as_facts(filename: str, facts: FileFacts | str) -> FileFacts:
    return facts if isinstance(facts, FileFacts) else FileFacts(filename, facts)
