"""The page of a project that is not a helper (``/helpers/<name>/`` too): a third-party project
mirrored for the helpers' closures, with its versions, files, and which helper releases' closures
use each file, as their release records say. Rendered when asked (there can be thousands), never
written to disk: the nginx front asks the registry for it."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from helperhub.core.dists import files_by_version
from helperhub.registry.server.catalog.pages import _page, _size, e
from helperhub.registry.server.metadata import FileFacts


def render_project_page(name: str, files: Iterable[FileFacts], used_by: Callable[[str], list[tuple[str, str]]],
                        home: str = "../../") -> str:
    sections = []
    for version, vfiles in files_by_version(files):
        rows = []
        for f in sorted(vfiles, key=lambda f: f.filename):
            users = ", ".join(f'<a href="{e(home)}helpers/{e(h)}/">{e(h)} {e(v)}</a>' for h, v in used_by(f.filename))
            rows.append(f'<tr><td><a href="{e(home)}packages/{e(f.filename)}#sha256={e(f.sha256)}">'
                        f"{e(f.filename)}</a></td><td>{_size(f.size or 0)}</td><td>{users or '—'}</td></tr>\n")
        sections.append(f"<h2>{e(str(version))}</h2>\n<table>\n<thead><tr><th>file</th><th>size</th>"
                        f"<th>in the closures of</th></tr></thead>\n<tbody>\n{''.join(rows)}</tbody>\n</table>\n")
    body = (
        f'<nav><a href="{e(home)}">← All helpers</a></nav>\n<header>\n<h1>{e(name)}</h1>\n'
        "<p>Third-party project, mirrored so the helpers' locked closures install offline; not released "
        "by a team.</p>\n</header>\n<main>\n" + "".join(sections) + "</main>\n"
    )
    return _page(f"{name} · mirrored · Helpers", body)
