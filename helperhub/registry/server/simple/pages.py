"""Pre-rendered simple pages, HTML (PEP 503) and JSON (PEP 691), with every fact the modern
protocol carries: hashes, Requires-Python, metadata files (PEP 658/714), yanks (PEP 592), sizes,
upload times and versions (PEP 700): pure functions of a project's facts. The registry knows every
change (uploads and yanks go through it), so it renders a project's pages once per change
(cache.py) instead of walking the folder per request."""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packaging.version import Version

from helperhub.core.dists import dist_version
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
