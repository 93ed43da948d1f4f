"""The Atom feeds, kept like the catalog pages: the newest events of the index (``/feed.atom``)
and of each project (``/helpers/<name>/feed.atom``), in memory for the registry's answers and
written beside the catalog pages (``.catalog/feed.atom``, ``.catalog/helpers/<name>/feed.atom``)
for the nginx front, re-rendered on every event.

At start the journal is read once in the background; until then the registry answers from the
files on disk. Only the feeds of projects with events past the last start's stamp
(``.events/feeds.json``: the journal offset read then) are rendered again, and written where the
file differs, so a start rewrites nothing that is already current; any other feed is rendered in
memory when first asked for.

A version retention deleted takes its entries (release, yanks, unyanks, images) out of the feeds
when its delete event is read, the same whether at the event or at a later start; an event of
the same version after the delete (a new file of it) is listed again."""

from __future__ import annotations

import json
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path

from helperhub.core import defaults
from helperhub.core.fs import atomic_write_text
from helperhub.registry.server.catalog.atom import FEED_NAME, render_feed
from helperhub.registry.server.events import Event, Journal, Logged
from helperhub.registry.server.retention import same_version
from helperhub.registry.server.simple.pages import Page, as_page

STAMP = "feeds.json"  # in the journal's folder
MIRROR_SHARE = 10  # the index's feed keeps this many times its entries: mirrored ones are left out
STAMP_FORMAT = 1  # a new rendering of the feeds: written again once, at the next start


class FeedCache:
    def __init__(self, static_root: Path | None, index_url: str, journal: Journal,
                 limit: int = defaults.FEED_ENTRIES, is_helper: Callable[[str], bool] = lambda _p: True) -> None:
        """``is_helper``: the index's feed shows helpers only (mirrored projects have their own feeds)."""
        self.static_root, self.index_url, self.journal, self.limit = static_root, index_url, journal, limit
        self.is_helper = is_helper
        self.stamp_path = journal.path.parent / STAMP
        self._lock = threading.Lock()
        self._all: deque[Event] = deque(maxlen=limit * MIRROR_SHARE)
        self._projects: dict[str, deque[Event]] = {}
        self._pages: dict[str, Page] = {}  # "" for the index's feed, else by project
        self._read = 0  # the journal offset read up to
        self.loaded = threading.Event()

    # -- reads --------------------------------------------------------------------------------------
    def feed(self, project: str | None = None) -> Page | None:
        """The index's feed, or a project's (None when it has no event)."""
        key = project or ""
        if not self.loaded.is_set():
            return self._from_disk(project)
        page = self._pages.get(key)
        if page is None and (not project or project in self._projects):
            with self._lock:
                page = self._render(project)
        return page

    def empty(self, project: str | None = None) -> Page:
        """A feed without entries: of a helper released before the journal was kept, or of the
        index while the journal is read for the first time."""
        return as_page(render_feed(self.index_url, [], project))

    def _from_disk(self, project: str | None) -> Page | None:
        if self.static_root is None:
            return None
        try:
            return as_page((self.static_root / _relative(project)).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return None

    # -- changes ------------------------------------------------------------------------------------
    def load(self) -> None:
        with self._lock:
            if self.loaded.is_set():
                return
            try:
                stamp = self._stamp()
                changed = self._catch_up(stamp or 0)
                for project in sorted(set(self._projects) if stamp is None else changed):
                    self._write(project, only_changed=True)
                self._write(None, only_changed=True)
                last = self.journal.before(self._read)
                atomic_write_text(self.stamp_path, json.dumps({
                    "format": STAMP_FORMAT, "index_url": self.index_url, "offset": self._read,
                    "id": last.id if last else ""}) + "\n")
            except Exception as exc:  # serve what was read; the next start reads it all again
                print(f"feeds: the journal was not read to its end: {type(exc).__name__}: {exc}", file=sys.stderr)
            self.loaded.set()

    def added(self, logged: Logged) -> None:
        """A listener of the event log: read what is new and render the feeds it changed."""
        with self._lock:
            if not self.loaded.is_set():
                return  # the load reads it
            changed = self._catch_up(self._read)
            for project in sorted(changed):
                self._write(project)
            if changed:
                self._write(None)

    def refresh(self, _projects: object = None) -> None:
        """A release record moved projects between helpers and mirrored ones: the index's feed again."""
        with self._lock:
            if self.loaded.is_set():
                self._pages.pop("", None)
                self._write(None, only_changed=True)

    def _catch_up(self, since: int) -> set[str]:
        """Read the journal on from ``self._read``: the projects with events past ``since``."""
        changed: set[str] = set()
        while batch := self.journal.read(self._read, 1024):
            for logged in batch:
                event = logged.event
                self._read = logged.end
                if event.event == "delete":
                    if event.project not in self._projects:
                        continue  # no entry to drop
                    self._forget(event)
                else:
                    self._all.append(event)
                    self._projects.setdefault(event.project, deque(maxlen=self.limit)).append(event)
                self._pages.pop(event.project, None)
                self._pages.pop("", None)
                if logged.end > since:
                    changed.add(event.project)
        return changed

    def _forget(self, deleted: Event) -> None:
        """Drop the entries of a deleted version (the delete itself is no entry: its version has
        no page left to link to)."""
        def kept(event: Event) -> bool:
            return event.project != deleted.project or same_version(event.version) != same_version(deleted.version)

        self._all = deque(filter(kept, self._all), maxlen=self._all.maxlen)
        self._projects[deleted.project] = deque(filter(kept, self._projects[deleted.project]), maxlen=self.limit)

    # -- rendering (under the lock) -----------------------------------------------------------------
    def _render(self, project: str | None) -> Page:
        if project:
            events = list(self._projects.get(project, deque()))
        else:
            events = [e for e in self._all if self.is_helper(e.project)][-self.limit:]
        page = as_page(render_feed(self.index_url, list(reversed(events)), project))
        self._pages[project or ""] = page
        return page

    def _write(self, project: str | None, only_changed: bool = False) -> None:
        """Render a feed and write it; ``only_changed``: unless the file already holds it."""
        try:
            page = self._render(project)
            if self.static_root is not None and not (only_changed and page == self._from_disk(project)):
                atomic_write_text(self.static_root / _relative(project), page.body.decode("utf-8"))
        except Exception as exc:  # the event stands; the feed is written again at the next start
            print(f"feeds: the feed of {project or 'the index'} not updated: {type(exc).__name__}: {exc}",
                  file=sys.stderr)

    def _stamp(self) -> int | None:
        """The journal offset whose feeds the files on disk show; None when unknown, rendered for
        another URL or format, or from a journal since replaced: then every feed is written again."""
        try:
            raw = json.loads(self.stamp_path.read_text())
            offset, stamped = int(raw["offset"]), raw.get("id")
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        if raw.get("format") != STAMP_FORMAT or raw.get("index_url") != self.index_url:
            return None
        last = self.journal.before(offset)
        if (offset and last is None) or (last.id if last else "") != stamped:
            return None
        return offset


def _relative(project: str | None) -> Path:
    return Path("helpers", project, FEED_NAME) if project else Path(FEED_NAME)
