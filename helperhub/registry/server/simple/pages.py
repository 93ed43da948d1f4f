"""Pre-rendered simple pages, HTML (PEP 503) and JSON (PEP 691), with every fact the modern
protocol carries: hashes, Requires-Python, metadata files (PEP 658/714), yanks (PEP 592), sizes,
upload times and versions (PEP 700). The registry knows every change (uploads and yanks go
through it), so it renders a project's pages once per change instead of walking the folder per
request, keeps them in memory for its own server and writes them as static files for a front
server (``index.html`` and ``index.json`` per project)."""

from __future__ import annotations

import hashlib
import html
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import Version

from helperhub.core.dists import dist_version
from helperhub.core.fs import atomic_write_text
from helperhub.registry.server.metadata import FileFacts
from helperhub.registry.server.notes import by_version
from helperhub.registry.server.simple.negotiate import Format

PAGES_DIR = ".simple"  # under the package folder: hidden, so pypiserver never lists it
API_VERSION = "1.1"  # PEP 700: sizes, upload times and the versions list
PAGE_FILES: dict[Format, str] = {"html": "index.html", "json": "index.json"}


@dataclass(frozen=True)
class Page:
    body: bytes
    etag: str


def as_page(text: str) -> Page:
    body = text.encode("utf-8")
    return Page(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def _facts(files: Iterable[FileFacts | tuple[str, str]]) -> list[FileFacts]:
    """Files sorted by name; a (name, sha256) pair is a file of which nothing else is known."""
    return sorted((f if isinstance(f, FileFacts) else FileFacts(*f) for f in files), key=lambda f: f.filename)


def _yank(facts: FileFacts, yanked: Mapping[Version, str]) -> str | None:
    version = dist_version(facts.filename)
    return yanked.get(version) if version is not None else None


def render_project(project: str, files: Iterable[FileFacts | tuple[str, str]],
                   yanked: Mapping[str, str] | None = None) -> str:
    """The HTML page of one project: a link per file with its sha256 and PEP 592/658/714 attributes."""
    links, versions = [], by_version(yanked or {})
    for f in _facts(files):
        name = html.escape(f.filename)
        attrs = f' href="../../packages/{name}#sha256={f.sha256}"'
        if f.requires_python:
            attrs += f' data-requires-python="{html.escape(f.requires_python)}"'
        if f.metadata_sha256:
            attrs += f' data-core-metadata="sha256={f.metadata_sha256}"'
            attrs += f' data-dist-info-metadata="sha256={f.metadata_sha256}"'
        reason = _yank(f, versions)
        if reason is not None:
            attrs += f' data-yanked="{html.escape(reason)}"'
        links.append(f"<a{attrs}>{name}</a><br>")
    title = html.escape(project)
    return (f"<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">"
            f"<title>Links for {title}</title></head>\n<body><h1>Links for {title}</h1>\n"
            + "\n".join(links) + "\n</body></html>\n")


def render_project_json(project: str, files: Iterable[FileFacts | tuple[str, str]],
                        yanked: Mapping[str, str] | None = None) -> str:
    """The PEP 691 JSON page of one project (API 1.1: with sizes, upload times and versions)."""
    entries: list[dict[str, Any]] = []
    versions: set[Version] = set()
    yanks = by_version(yanked or {})
    for f in _facts(files):
        version = dist_version(f.filename)
        if version is not None:
            versions.add(version)
        entry: dict[str, Any] = {"filename": f.filename, "url": f"../../packages/{f.filename}",
                                 "hashes": {"sha256": f.sha256}}
        if f.requires_python:
            entry["requires-python"] = f.requires_python
        metadata: dict[str, str] | bool = {"sha256": f.metadata_sha256} if f.metadata_sha256 else False
        # PEP 714: only the new key in JSON; pip 22.3-23.1 (Debian bookworm's is 23.0) fails on
        # the old `dist-info-metadata` holding a dict, where it ignores `core-metadata`
        entry["core-metadata"] = metadata
        if f.size is not None:
            entry["size"] = f.size
        if f.upload_time is not None:
            entry["upload-time"] = f.upload_time
        reason = _yank(f, yanks)
        entry["yanked"] = False if reason is None else (reason or True)
        entries.append(entry)
    page = {"meta": {"api-version": API_VERSION}, "name": project, "versions": [str(v) for v in sorted(versions)],
            "files": entries}
    return json.dumps(page, indent=1) + "\n"


def render_root(projects: Iterable[str]) -> str:
    links = "\n".join(f'<a href="{html.escape(p)}/">{html.escape(p)}</a><br>' for p in sorted(projects))
    return (f"<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"{API_VERSION}\">"
            f"<title>Simple index</title></head>\n<body>\n{links}\n</body></html>\n")


def render_root_json(projects: Iterable[str]) -> str:
    page = {"meta": {"api-version": API_VERSION}, "projects": [{"name": p} for p in sorted(projects)]}
    return json.dumps(page, indent=1) + "\n"


class PageCache:
    """Pages by canonical project name, both formats; rebuilt for one project when one of its files
    lands or one of its versions is yanked."""

    def __init__(self, static_root: Path | None) -> None:
        self.static_root = static_root
        self._lock = threading.Lock()
        self._projects: dict[str, dict[str, FileFacts]] = {}
        self._yanked: dict[str, dict[str, str]] = {}
        self.pages: dict[str, Page] = {}
        self.json_pages: dict[str, Page] = {}
        self.root_page = as_page(render_root([]))
        self.root_json = as_page(render_root_json([]))

    def rebuild(self, files: Mapping[str, FileFacts | str], project_of: Mapping[str, str],
                yanked: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """All pages from ``files`` (name -> facts, or name -> sha256), each file's canonical project
        and the yanked versions of each project."""
        with self._lock:
            self._projects = {}
            self._yanked = {p: dict(v) for p, v in (yanked or {}).items()}
            for name, facts in files.items():
                self._projects.setdefault(project_of[name], {})[name] = _as_facts(name, facts)
            for project in self._projects:
                self._render(project)
            self._render_root()

    def add(self, project: str, filename: str, facts: FileFacts | str) -> None:
        with self._lock:
            self._projects.setdefault(project, {})[filename] = _as_facts(filename, facts)
            self._render(project)
            self._render_root()

    def set_yanked(self, project: str, yanked: Mapping[str, str]) -> None:
        with self._lock:
            self._yanked[project] = dict(yanked)
            if project in self._projects:
                self._render(project)

    def get(self, project: str, fmt: Format = "html") -> Page | None:
        pages = self.json_pages if fmt == "json" else self.pages
        return pages.get(canonicalize_name(project))

    def root(self, fmt: Format = "html") -> Page:
        return self.root_json if fmt == "json" else self.root_page

    def _render(self, project: str) -> None:
        files, yanked = self._projects[project].values(), self._yanked.get(project, {})
        texts: dict[Format, str] = {"html": render_project(project, files, yanked),
                                    "json": render_project_json(project, files, yanked)}
        # the static files first: the front serves them, the in-memory pages follow at once
        self._write(project, texts)
        self.pages[project] = as_page(texts["html"])
        self.json_pages[project] = as_page(texts["json"])

    def _render_root(self) -> None:
        texts: dict[Format, str] = {"html": render_root(self._projects), "json": render_root_json(self._projects)}
        self._write(None, texts)
        self.root_page, self.root_json = as_page(texts["html"]), as_page(texts["json"])

    def _write(self, project: str | None, texts: Mapping[Format, str]) -> None:
        if self.static_root is None:
            return
        folder = self.static_root / project if project else self.static_root
        for fmt, text in texts.items():
            atomic_write_text(folder / PAGE_FILES[fmt], text)


def _as_facts(filename: str, facts: FileFacts | str) -> FileFacts:
    return facts if isinstance(facts, FileFacts) else FileFacts(filename, facts)
