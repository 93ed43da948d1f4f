"""Pre-rendered PEP 503 pages: the registry knows every change (uploads go through it), so it
renders a project's page once per upload instead of walking the folder per request, keeps the
pages in memory for its own server and writes them as static files for a front server."""

from __future__ import annotations

import hashlib
import html
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name

from helperhub.core.fs import atomic_write_text

PAGES_DIR = ".simple"  # under the package folder: hidden, so pypiserver never lists it


@dataclass(frozen=True)
class Page:
    body: bytes
    etag: str


def _page(text: str) -> Page:
    body = text.encode("utf-8")
    return Page(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def render_project(project: str, files: Iterable[tuple[str, str]]) -> str:
    """The simple page of one project: a link per file with its recorded sha256."""
    links = "\n".join(
        f'<a href="../../packages/{html.escape(name)}#sha256={sha}">{html.escape(name)}</a><br>'
        for name, sha in sorted(files)
    )
    title = html.escape(project)
    return (f"<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.0\">"
            f"<title>Links for {title}</title></head>\n<body><h1>Links for {title}</h1>\n{links}\n</body></html>\n")


def render_root(projects: Iterable[str]) -> str:
    links = "\n".join(f'<a href="{html.escape(p)}/">{html.escape(p)}</a><br>' for p in sorted(projects))
    return f"<!DOCTYPE html>\n<html><head><title>Simple index</title></head>\n<body>\n{links}\n</body></html>\n"


class PageCache:
    """Pages by canonical project name; rebuilt for one project when one of its files lands."""

    def __init__(self, static_root: Path | None) -> None:
        self.static_root = static_root
        self._lock = threading.Lock()
        self._projects: dict[str, dict[str, str]] = {}
        self.pages: dict[str, Page] = {}
        self.root_page = _page(render_root([]))

    def rebuild(self, files: dict[str, str], project_of: dict[str, str]) -> None:
        """All pages from ``files`` (name -> sha256) and each file's canonical project."""
        with self._lock:
            self._projects = {}
            for name, sha in files.items():
                self._projects.setdefault(project_of[name], {})[name] = sha
            for project in self._projects:
                self._render(project)
            self._render_root()

    def add(self, project: str, filename: str, sha256: str) -> None:
        with self._lock:
            self._projects.setdefault(project, {})[filename] = sha256
            self._render(project)
            self._render_root()

    def get(self, project: str) -> Page | None:
        return self.pages.get(canonicalize_name(project))

    def _render(self, project: str) -> None:
        text = render_project(project, self._projects[project].items())
        self.pages[project] = _page(text)
        if self.static_root is not None:
            atomic_write_text(self.static_root / project / "index.html", text)

    def _render_root(self) -> None:
        text = render_root(self._projects)
        self.root_page = _page(text)
        if self.static_root is not None:
            atomic_write_text(self.static_root / "index.html", text)
