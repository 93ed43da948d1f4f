"""The human pages of the index: ``/`` lists the helpers, ``/helpers/<name>/`` shows one.

Pure functions from catalog values to HTML text, rendered once per upload like the simple pages.
Self-contained for an air-gapped cluster: inline style and script, no fonts, scripts or CDNs.
Everything interpolated is escaped; the long description is uploaded content and goes through
readme_renderer, which sanitises its HTML with nh3 (no script, no event handlers)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime

from helperhub.registry.server.catalog.atom import ATOM_TYPE, FEED_NAME, feed_title
from helperhub.registry.server.catalog.model import (
    HelperEntry,
    HelperVersion,
    ReleaseFile,
    Snippet,
    ThirdParty,
    matches,
    search_text,
    snippets,
)
from helperhub.registry.server.catalog.style import CATALOG_SCRIPT, COPY_SCRIPT, STYLE


def e(text: str) -> str:
    return html.escape(text, quote=True)


def _time(when: datetime) -> str:
    return f'<time datetime="{when:%Y-%m-%dT%H:%M:%SZ}">{when:%Y-%m-%d %H:%M} UTC</time>'


def _size(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    scaled = float(size)
    for unit in ("kB", "MB", "GB"):
        scaled /= 1000
        if scaled < 1000 or unit == "GB":
            break
    return f"{scaled:.1f} {unit}"


def _page(title: str, body: str, script: str = "", feed: str = "") -> str:
    """A whole page; ``feed`` titles the Atom feed beside it (``feed.atom``, relative to the page)."""
    tail = f"<script>{script}</script>\n" if script else ""
    alternate = f'<link rel="alternate" type="{ATOM_TYPE}" title="{e(feed)}" href="{FEED_NAME}">\n' if feed else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"color-scheme\" content=\"light dark\">\n"
        f"<title>{e(title)}</title>\n{alternate}<style>{STYLE}</style>\n</head>\n<body>\n{body}{tail}</body>\n</html>\n"
    )


def _feed_link(what: str) -> str:
    return f'<p class="meta feed"><a href="{FEED_NAME}" type="{ATOM_TYPE}">Atom feed</a> of {e(what)}</p>\n'


def _yank_badge(version: HelperVersion) -> str:
    return ' <span class="badge yanked">yanked</span>' if version.is_yanked else ""


def render_entry(entry: HelperEntry) -> str:
    """One helper's item of the catalog list."""
    owners = f' · owners {e(", ".join(entry.owners))}' if entry.owners else ""
    summary = f'<p class="summary">{e(entry.summary)}</p>\n' if entry.summary else ""
    return (
        f'<li class="helper" data-search="{e(search_text(entry))}">\n'
        f'<h2><a href="helpers/{e(entry.name)}/">{e(entry.display_name)}</a> '
        f'<span class="version">{e(entry.version)}</span>{_yank_badge(entry.newest)}</h2>\n'
        f"{summary}"
        f'<p class="meta">released {_time(entry.released)}{owners}</p>\n'
        "</li>\n"
    )


def _count(shown: int, total: int, query: str) -> str:
    noun = "helper" if total == 1 else "helpers"
    if not query.strip():
        return f"{total} {noun}"
    return f"{shown} of {total} {noun} match “{e(query.strip())}” · <a href=\"./\">show all</a>"


def render_third_party(projects: Iterable[ThirdParty]) -> str:
    """The collapsed section of mirrored projects ("" when there are none)."""
    rows = "".join(
        f'<tr><td><a class="mirrored" href="helpers/{e(p.name)}/">{e(p.name)}</a></td>'
        f'<td>{e(", ".join(p.versions))}</td></tr>\n'
        for p in sorted(projects, key=lambda p: p.name)
    )
    if not rows:
        return ""
    count = rows.count("<tr>")
    return (
        '<details class="third-party">\n'
        f"<summary>Third-party wheels mirrored for the locked closures ({count})</summary>\n"
        "<p>Dependencies of the helpers, mirrored so steps and image builds install offline. "
        "Not released by a team: use the helpers above.</p>\n"
        "<table>\n<thead><tr><th>project</th><th>versions</th></tr></thead>\n"
        f"<tbody>\n{rows}</tbody>\n</table>\n</details>\n"
    )


def catalog_order(entries: Iterable[HelperEntry]) -> list[HelperEntry]:
    """The helpers in the order the catalog lists them: by name as displayed, case-insensitively."""
    return sorted(entries, key=lambda h: (h.display_name.lower(), h.name))


def render_catalog(entries: Iterable[HelperEntry], third_party: Iterable[ThirdParty], query: str = "") -> str:
    """The page of ``/``: the helpers matching ``query`` (all when empty), then the mirror, apart.

    The query comes from ``?q=`` so the filter works without JavaScript; the inline script filters
    the listed helpers as one types."""
    every = catalog_order(entries)
    items = [render_entry(h) for h in every if matches(h, query)]
    return render_catalog_page(items, len(every), render_third_party(third_party), query)


def render_catalog_page(items: Sequence[str], total: int, mirror: str, query: str = "") -> str:
    """The page of ``/`` from pre-rendered parts: ``items`` are the render_entry() of the helpers
    that match ``query``, in catalog order, ``total`` counts every helper and ``mirror`` is
    render_third_party(). The registry renders the parts once per change, so answering ``?q=``
    is a filter and this join."""
    empty_hidden = " hidden" if items else ""
    nothing = "No helper matches the filter." if total else "No helper has been released to this index yet."
    body = (
        '<header>\n<h1>Helpers</h1>\n<p class="lead">Shared helper code released by the teams: '
        "versioned wheels and images, pinned by <code>pins.json</code>.</p>\n</header>\n<main>\n"
        '<form class="filter" method="get" action="./" role="search">\n'
        '<label for="q">Filter</label>\n'
        f'<input id="q" name="q" type="search" value="{e(query)}" placeholder="name, summary or owner" '
        'autocomplete="off">\n<button type="submit">Filter</button>\n</form>\n'
        f'<p id="count" class="count" data-total="{total}">{_count(len(items), total, query)}</p>\n'
        f'<ul id="helpers" class="helpers">\n{"".join(items)}</ul>\n'
        f'<p id="empty" class="empty"{empty_hidden}>{nothing}</p>\n'
        f"{mirror}"
        "</main>\n<footer>\n<p>For installers: the <a href=\"simple/\">simple index</a> (PEP 503). "
        "From a shell: <code>helperhub helpers list</code>.</p>\n"
        f"{_feed_link('new versions, yanks and images of the whole index')}</footer>\n"
    )
    return _page("Helpers", body, CATALOG_SCRIPT, feed_title())


def render_not_found(name: str, home: str, near: Sequence[str] = ()) -> str:
    """The page of ``/helpers/<name>/`` for a name the index has no helper of; ``home`` is the
    relative link back to the catalog, ``near`` names of helpers that look alike."""
    hint = ""
    if near:
        links = ", ".join(f'<a href="{e(home)}helpers/{e(n)}/">{e(n)}</a>' for n in near)
        hint = f"<p>Did you mean {links}?</p>\n"
    body = (
        f'<nav><a href="{e(home)}">← All helpers</a></nav>\n<header>\n<h1>No such helper</h1>\n</header>\n'
        f"<main>\n<p>This index has no helper named <code>{e(name)}</code>.</p>\n{hint}"
        f'<p>The <a href="{e(home)}">catalog</a> lists every helper.</p>\n</main>\n'
    )
    return _page("No such helper · Helpers", body)


def render_snippet(snippet: Snippet) -> str:
    return (
        f'<div class="snippet">\n<h3>{e(snippet.label)}</h3>\n'
        f"<pre><code>{e(snippet.text)}</code></pre>\n</div>\n"
    )


def render_description(text: str, content_type: str) -> str:
    """The long description as sanitised HTML, by its Description-Content-Type, as PyPI shows it:
    Markdown (GFM unless ``variant=CommonMark``), reStructuredText, else plain text; what fails to
    render (invalid reST, a missing Markdown renderer) is shown as plain text."""
    from readme_renderer import markdown, rst, txt  # imported on first use: pygments and docutils are heavy

    if not text.strip():
        return '<p class="muted">No description.</p>'
    kind, _, params = content_type.partition(";")
    kind = kind.strip().lower() or "text/x-rst"
    variant = "GFM"
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "variant" and value.strip():
            variant = value.strip()
    rendered: str | None = None
    if kind == "text/markdown":
        rendered = markdown.render(text, variant=variant)
    elif kind == "text/x-rst":
        rendered = rst.render(text)
    return rendered if rendered is not None else txt.render(text) or f"<pre>{e(text)}</pre>"


def _files(files: Iterable[ReleaseFile]) -> str:
    items = "".join(
        f'<li><a href="../../packages/{e(f.filename)}#sha256={e(f.sha256)}">{e(f.filename)}</a> '
        f'<span class="muted">{_size(f.size)}</span><br><code class="hash">sha256:{e(f.sha256)}</code></li>\n'
        for f in files
    )
    return f'<dt>Files</dt>\n<dd><ul class="files">\n{items}</ul></dd>\n' if items else ""


def _images(version: HelperVersion) -> str:
    """The image of a repository without targets as before targets; else one per target, each
    with its digest (the plain tag is the ``default`` target's, ``<version>-<target>`` the others')."""
    if not version.images:
        return ""
    if version.only_default_image:
        return f'<dt>Image</dt>\n<dd><code class="hash">{e(version.images[0][1])}</code></dd>\n'
    items = "".join(
        f'<li><span class="target">{e(target)}</span> <code class="hash">{e(ref)}</code></li>\n'
        for target, ref in version.images
    )
    return f'<dt>Images ({len(version.images)} targets)</dt>\n<dd><ul class="images">\n{items}</ul></dd>\n'


def render_version(version: HelperVersion) -> str:
    """One version of the helper page: release time, yank reason, requirements, image, files."""
    reason = ""
    if version.yanked is not None:
        why = f": {e(version.yanked)}" if version.yanked else " (no reason given)"
        reason = f'<p class="yank-reason">Yanked{why}. Installers skip it unless pinned exactly.</p>\n'
    facts = [f"<dt>Released</dt>\n<dd>{_time(version.released)}</dd>\n"]
    if version.requires_python:
        facts.append(f"<dt>Python</dt>\n<dd><code>{e(version.requires_python)}</code></dd>\n")
    if version.requires_dist:
        reqs = "".join(f"<li><code>{e(r)}</code></li>\n" for r in version.requires_dist)
        facts.append(f'<dt>Requires</dt>\n<dd><ul class="requires">\n{reqs}</ul></dd>\n')
    facts.append(_images(version))
    facts.append(_files(version.files))
    anchor = f"v{e(version.version)}"
    return (
        f'<article class="release" id="{anchor}">\n'
        f'<h3><a href="#{anchor}">{e(version.version)}</a>{_yank_badge(version)}</h3>\n'
        f'{reason}<dl class="facts">\n{"".join(facts)}</dl>\n</article>\n'
    )


def render_helper(entry: HelperEntry, index_url: str) -> str:
    """The page of ``/helpers/<name>/``: how to use it, its description, every version."""
    use = entry.recommended
    note = ""
    if use.is_yanked:
        note = '<p class="yank-reason">Every version is yanked; ask the owners which one to use.</p>\n'
    elif use is not entry.newest:
        note = f"<p class=\"muted\">The snippets use {e(use.version)}, the newest version not yanked.</p>\n"
    extras = ""
    if use.extras:
        names = ", ".join(f"<code>{e(entry.name)}[{e(x)}]</code>" for x in use.extras)
        extras = f"<p>Extras: {names}.</p>\n"
    if use.images:  # the SBOM a release attaches for each target it built an image of
        links = ", ".join(f'<a href="{e(use.version)}/{e(t)}.cdx.json">{e(t)}</a>' for t, _ in use.images)
        extras += f'<p class="sbom">SBOM (CycloneDX) of {e(use.version)}: {links}.</p>\n'
    owners = f' · owners {e(", ".join(entry.owners))}' if entry.owners else ""
    summary = f'<p class="lead">{e(entry.summary)}</p>\n' if entry.summary else ""
    body = (
        '<nav><a href="../../">← All helpers</a></nav>\n<header>\n'
        f'<h1>{e(entry.display_name)} <span class="version">{e(entry.version)}</span>'
        f"{_yank_badge(entry.newest)}</h1>\n{summary}"
        f'<p class="meta">released {_time(entry.released)}{owners}</p>\n'
        f"{_feed_link(f'new versions, yanks and images of {entry.name}')}</header>\n<main>\n"
        f'<section id="use">\n<h2>Use {e(use.version)}</h2>\n{note}'
        f'{"".join(render_snippet(s) for s in snippets(entry, index_url))}{extras}</section>\n'
        '<section id="description">\n<h2>Description</h2>\n'
        f'<div class="readme">\n{render_description(entry.description, entry.description_content_type)}\n</div>\n'
        "</section>\n"
        f'<section id="versions">\n<h2>Versions ({len(entry.versions)})</h2>\n'
        f'{"".join(render_version(v) for v in entry.versions)}</section>\n</main>\n'
    )
    return _page(f"{entry.display_name} {entry.version} · Helpers", body, COPY_SCRIPT,
                 feed_title(entry.name))
