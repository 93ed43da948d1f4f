"""The catalog pages as text: the model's order and checks, exact items and snippets, the filter,
the yanked marker, the mirror kept apart, and escaping of everything an uploader controls."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from helperhub.registry.server.catalog.model import (
    HelperEntry,
    HelperVersion,
    ReleaseFile,
    Snippet,
    ThirdParty,
    matches,
    simple_url,
    snippets,
)
from helperhub.registry.server.catalog.pages import (
    render_catalog,
    render_description,
    render_entry,
    render_helper,
    render_snippet,
    render_version,
)
from tests.catalog_site import sample_entries, sample_third_party

WHEN = datetime(2026, 10, 28, 10, 30, tzinfo=UTC)
SHA = "ab" * 32


def entry(name: str = "tabular-helpers", *versions: HelperVersion, **kw: object) -> HelperEntry:
    fields: dict[str, object] = {"display_name": name, "owners": ("ml-platform",),
                                 "summary": "Column imputation and checks"} | kw
    return HelperEntry(name, versions=versions or (HelperVersion("1.0.0", WHEN),), **fields)  # type: ignore[arg-type]


def helpers_list(page: str) -> str:
    return page.split('<ul id="helpers" class="helpers">', 1)[1].split("</ul>", 1)[0]


def test_versions_are_kept_newest_first_in_pep440_order() -> None:
    versions = [HelperVersion(v, WHEN) for v in ("1.9.0", "2.0.0rc1", "1.10.0", "2.0.0", "1.10.0.post1")]
    helper = entry("x", *versions)
    assert [v.version for v in helper.versions] == ["2.0.0", "2.0.0rc1", "1.10.0.post1", "1.10.0", "1.9.0"]
    assert helper.version == "2.0.0"
    assert ThirdParty("numpy", ("1.26.4", "2.1.3", "1.9.0")).versions == ("2.1.3", "1.26.4", "1.9.0")


def test_release_times_are_utc_and_must_say_their_zone() -> None:
    local = datetime(2026, 10, 28, 12, 30, tzinfo=timezone(timedelta(hours=2)))
    assert HelperVersion("1.0.0", local).released == WHEN
    assert HelperVersion("1.0.0", local).released.tzinfo is UTC
    with pytest.raises(ValueError, match="no time zone"):
        HelperVersion("1.0.0", datetime(2026, 10, 28, 10, 30))


def test_entry_needs_a_canonical_name_and_a_version() -> None:
    with pytest.raises(ValueError, match="not a canonical project name"):
        entry("Tabular_Helpers")
    with pytest.raises(ValueError, match="at least one version"):
        HelperEntry("x", "x", ())


def test_catalog_item_exact() -> None:
    helper = entry("vision-helpers", HelperVersion("1.0.1", WHEN), HelperVersion("1.0.0", WHEN),
                   display_name="Vision_Helpers", owners=("vision-team", "ml-platform"), summary="Contrast & gamma")
    assert render_entry(helper) == (
        '<li class="helper" data-search="vision-helpers vision-helpers contrast &amp; gamma vision-team ml-platform">\n'
        '<h2><a href="helpers/vision-helpers/">Vision_Helpers</a> <span class="version">1.0.1</span></h2>\n'
        '<p class="summary">Contrast &amp; gamma</p>\n'
        '<p class="meta">released <time datetime="2026-10-28T10:30:00Z">2026-10-28 10:30 UTC</time>'
        " · owners vision-team, ml-platform</p>\n"
        "</li>\n"
    )


def test_yanked_newest_version_is_marked_and_its_reason_shown() -> None:
    helper = entry("drift-monitor", HelperVersion("0.3.0", WHEN, yanked="wrong bins; use 0.2.1"),
                   HelperVersion("0.2.1", WHEN), HelperVersion("0.2.0", WHEN, yanked=""))
    assert helper.yanked
    assert '<span class="version">0.3.0</span> <span class="badge yanked">yanked</span></h2>' in render_entry(helper)
    assert "yanked" not in render_entry(entry())
    page = render_helper(helper, "http://127.0.0.1:8080")
    assert ('<h3><a href="#v0.3.0">0.3.0</a> <span class="badge yanked">yanked</span></h3>\n'
            '<p class="yank-reason">Yanked: wrong bins; use 0.2.1. Installers skip it unless pinned exactly.</p>'
            in page)
    assert "Yanked (no reason given)." in render_version(helper.versions[2])
    assert '<h3><a href="#v0.2.1">0.2.1</a></h3>' in page
    # the snippets pin the newest version that is not yanked, and say so
    assert "The snippets use 0.2.1, the newest version not yanked." in page
    assert "helperhub pins bump drift-monitor 0.2.1" in page


def test_every_version_yanked_still_gives_snippets_and_a_warning() -> None:
    helper = entry("x", HelperVersion("1.0.0", WHEN, yanked="broken"))
    assert helper.recommended.version == "1.0.0"
    assert "Every version is yanked; ask the owners which one to use." in render_helper(helper, "http://h")


def test_version_exact() -> None:
    version = HelperVersion("1.2.0", WHEN, None, ("numpy>=1.26", 'matplotlib>=3.8; extra == "plots"'), ">=3.11",
                            "reg:5000/tabular-helpers@sha256:" + "cd" * 32,
                            (ReleaseFile("tabular_helpers-1.2.0-py3-none-any.whl", SHA, 24_310),))
    assert version.extras == ("plots",)
    assert render_version(version) == (
        '<article class="release" id="v1.2.0">\n<h3><a href="#v1.2.0">1.2.0</a></h3>\n<dl class="facts">\n'
        '<dt>Released</dt>\n<dd><time datetime="2026-10-28T10:30:00Z">2026-10-28 10:30 UTC</time></dd>\n'
        "<dt>Python</dt>\n<dd><code>&gt;=3.11</code></dd>\n"
        '<dt>Requires</dt>\n<dd><ul class="requires">\n<li><code>numpy&gt;=1.26</code></li>\n'
        "<li><code>matplotlib&gt;=3.8; extra == &quot;plots&quot;</code></li>\n</ul></dd>\n"
        f'<dt>Image</dt>\n<dd><code class="hash">reg:5000/tabular-helpers@sha256:{"cd" * 32}</code></dd>\n'
        '<dt>Files</dt>\n<dd><ul class="files">\n'
        f'<li><a href="../../packages/tabular_helpers-1.2.0-py3-none-any.whl#sha256={SHA}">'
        'tabular_helpers-1.2.0-py3-none-any.whl</a> <span class="muted">24.3 kB</span><br>'
        f'<code class="hash">sha256:{SHA}</code></li>\n</ul></dd>\n</dl>\n</article>\n'
    )


@pytest.mark.parametrize(("query", "shown"), [
    ("", ["drift-monitor", "feature-store-client", "tabular-helpers", "vision-helpers"]),
    ("   ", ["drift-monitor", "feature-store-client", "tabular-helpers", "vision-helpers"]),
    ("VISION", ["vision-helpers"]),  # name, any case
    ("drift_monitor", ["drift-monitor"]),  # separators fold as in PEP 503 names
    ("imputation", ["tabular-helpers"]),  # summary
    ("ml-platform", ["tabular-helpers", "vision-helpers"]),  # owners
    ("ml-platform gamma", ["vision-helpers"]),  # every word must match
    ("nothing-like-this", []),
])
def test_query_lists_only_matching_helpers(query: str, shown: list[str]) -> None:
    entries = sample_entries()
    page = render_catalog(entries, sample_third_party(), query)
    listed = re.findall(r'<a href="helpers/([^/"]+)/">', helpers_list(page))
    assert listed == shown
    assert sorted(h.name for h in entries if matches(h, query)) == sorted(shown)
    if query.strip():
        count = f'{len(shown)} of 4 helpers match “{query.strip()}” · <a href="./">show all</a>'
        assert f'data-total="4">{count}</p>' in page
    else:
        assert 'data-total="4">4 helpers</p>' in page
    assert ('<p id="empty" class="empty">No helper matches the filter.</p>' in page) == (not shown)
    assert f'<input id="q" name="q" type="search" value="{query}"' in page


def test_filter_is_a_get_form_and_an_inline_script() -> None:
    page = render_catalog(sample_entries(), [])
    assert '<form class="filter" method="get" action="./" role="search">' in page
    assert '<input id="q" name="q" type="search" value=""' in page
    assert page.count("<script>") == 1
    assert "<script src" not in page
    assert 'addEventListener("input"' in page
    assert "No helper has been released to this index yet." in render_catalog([], [])


def test_third_party_projects_are_listed_apart_and_collapsed() -> None:
    mirror = [ThirdParty("pandas", ("2.2.3",)), ThirdParty("numpy", ("1.26.4", "2.1.3"))]
    page = render_catalog(sample_entries(), mirror)
    assert "numpy" not in helpers_list(page)
    section = page.split('<details class="third-party">', 1)[1].split("</details>", 1)[0]
    assert "<summary>Third-party wheels mirrored for the locked closures (2)</summary>" in section
    assert ('<tbody>\n<tr><td><a class="mirrored" href="helpers/numpy/">numpy</a></td><td>2.1.3, 1.26.4</td></tr>\n'
            '<tr><td><a class="mirrored" href="helpers/pandas/">pandas</a></td><td>2.2.3</td></tr>\n'
            '</tbody>') in section
    assert "<details open" not in page
    assert page.index("</ul>") < page.index('<details class="third-party">')
    assert "<details" not in render_catalog(sample_entries(), [])


@pytest.mark.parametrize(("index_url", "pip_index"), [
    ("http://127.0.0.1:8080", "--index-url http://127.0.0.1:8080/simple/"),
    ("http://localhost:8080/simple/", "--index-url http://localhost:8080/simple/"),
    ("https://pypi.example.org/", "--index-url https://pypi.example.org/simple/"),
    # pip ignores a plain-http index elsewhere than loopback unless the host is trusted
    ("http://pypi.helpers.svc.cluster.local:8080",
     "--index-url http://pypi.helpers.svc.cluster.local:8080/simple/ --trusted-host pypi.helpers.svc.cluster.local"),
])
def test_snippets_exact(index_url: str, pip_index: str) -> None:
    helper = entry("tabular-helpers", HelperVersion("1.2.0", WHEN), HelperVersion("1.1.0", WHEN))
    simple = simple_url(index_url)
    assert snippets(helper, index_url) == (
        Snippet("pip", f"pip install {pip_index} tabular-helpers==1.2.0"),
        Snippet("uv", f"uv pip install --index-url {simple} tabular-helpers==1.2.0"),
        Snippet("Pin it in your pipeline repository's pins.json", "helperhub pins bump tabular-helpers 1.2.0"),
        Snippet("Use it in a component",
                "from helperhub.pipelines import Delivery, helper_component\n\n"
                'delivery = Delivery.from_lock("pins.json", mode="image")\n\n'
                '@helper_component(helpers=["tabular-helpers"], delivery=delivery)'),
    )


def test_snippet_html_exact_and_on_the_page() -> None:
    helper = entry("tabular-helpers", HelperVersion("1.2.0", WHEN))
    component = snippets(helper, "http://127.0.0.1:8080")[3]
    html = render_snippet(component)
    assert html == (
        '<div class="snippet">\n<h3>Use it in a component</h3>\n<pre><code>'
        "from helperhub.pipelines import Delivery, helper_component\n\n"
        "delivery = Delivery.from_lock(&quot;pins.json&quot;, mode=&quot;image&quot;)\n\n"
        "@helper_component(helpers=[&quot;tabular-helpers&quot;], delivery=delivery)</code></pre>\n</div>\n"
    )
    page = render_helper(helper, "http://127.0.0.1:8080")
    assert html in page
    assert "<code>pip install --index-url http://127.0.0.1:8080/simple/ tabular-helpers==1.2.0</code>" in page


HOSTILE = '"><script>alert(1)</script>'


def test_everything_an_uploader_controls_is_escaped() -> None:
    bad = entry(
        HOSTILE.lower(),
        HelperVersion("1.0.0", WHEN, yanked="<b>reason</b>", requires_dist=('x; extra == "<i>"',),
                      requires_python="<3.12", image="<img src=x onerror=alert(2)>",
                      files=(ReleaseFile('a"<b>.whl', "<sha>", 1),)),
        display_name=HOSTILE, owners=("<u>eve</u>",), summary="<img src=x onerror=alert(3)>",
        description='<script>document.title="pwned"</script>', description_content_type="text/plain",
    )
    catalog = render_catalog([bad], [ThirdParty("<evil>", ("1.0",))], query=HOSTILE)
    helper = render_helper(bad, 'http://h"><script>x</script>')
    for page in (catalog, helper):
        assert page.count("<script") == 1  # the page's own
        assert "<img" not in page and "<b>" not in page and "<u>" not in page and "<i>" not in page
    assert '&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;' in catalog  # the name, and the echoed query
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in catalog
    assert "&lt;img src=x onerror=alert(3)&gt;" in catalog
    assert "&lt;evil&gt;" in catalog
    assert "Yanked: &lt;b&gt;reason&lt;/b&gt;." in helper
    assert '&lt;script&gt;document.title="pwned"&lt;/script&gt;' in helper  # shown as text
    # the snippets quote for the shell and the page escapes them again
    assert "pip install --index-url &#x27;http://h&quot;&gt;&lt;script&gt;x&lt;/script&gt;/simple/&#x27;" in helper


@pytest.mark.parametrize("content_type", ["text/markdown", "text/markdown; variant=CommonMark", "text/x-rst", "",
                                          "text/plain", "application/unknown"])
def test_description_is_sanitised_whatever_its_type(content_type: str) -> None:
    text = ('Title\n=====\n\n<script>document.title="pwned"</script>\n\n<img src=x onerror="alert(1)">\n\n'
            "[link](javascript:alert(1))\n\n.. raw:: html\n\n   <script>alert(2)</script>\n")
    out = render_description(text, content_type)
    assert "<script" not in out.lower()
    assert not re.search(r"<[^>]*(onerror|javascript:)", out), out  # as text, never in a tag
    assert "Title" in out


def test_description_renders_by_content_type() -> None:
    md = render_description("# Use\n\n```python\nx = 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
                            "text/markdown; charset=UTF-8; variant=GFM")
    assert '<h1 id="user-content-use">Use' in md and "<table>" in md and '<pre lang="python">' in md
    rst = render_description("Use\n===\n\n* ``equalize(image)``\n", "text/x-rst")
    assert '<li><p><span class="docutils literal">equalize(image)</span></p></li>' in rst
    assert render_description("*a* <b>\nc", "text/plain") == "*a* &lt;b&gt;<br>c"
    # no type means reStructuredText; what is not valid reST is shown as plain text
    assert render_description("bad `rst", "") == "bad `rst"
    assert render_description("  \n", "text/markdown") == '<p class="muted">No description.</p>'


def test_pages_are_self_contained_readable_on_phones_and_dark() -> None:
    catalog = render_catalog(sample_entries(), sample_third_party())
    helper = render_helper(sample_entries()[0], "http://127.0.0.1:8080")
    for page in (catalog, helper):
        assert page.startswith("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
        assert "@media (prefers-color-scheme:dark)" in page
        assert "@import" not in page and "url(" not in page and " src=" not in page
        # the one <link> names the page's Atom feed, beside it; nothing is loaded from elsewhere
        assert re.findall(r"<link\b[^>]*>", page) == [re.search(r'<link rel="alternate" type="application/atom\+xml" '
                                                                 r'title="[^"]+" href="feed.atom">', page)[0]]
        hrefs = re.findall(r'href="([^"]*)"', page)
        assert hrefs and all(not h.startswith(("http:", "https:", "//")) for h in hrefs), hrefs
    assert '<a href="../../">← All helpers</a>' in helper
    assert "<title>tabular-helpers 1.2.0 · Helpers</title>" in helper
