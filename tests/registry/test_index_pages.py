"""Pure pieces of the modern index protocol: which format a client gets, the exact pages (HTML and
JSON) with every fact, and the record's two forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helperhub.core.metadata import parse_core_metadata
from helperhub.registry.server.metadata import FileFacts, parse_record, render_record, upload_time
from helperhub.registry.server.simple.cache import PageCache
from helperhub.registry.server.simple.negotiate import choose, from_accept
from helperhub.registry.server.simple.pages import render_project, render_project_json, render_root_json
from tests.indexclients import PIP_ACCEPT, UV_ACCEPT

JSON = "application/vnd.pypi.simple.v1+json"


@pytest.mark.parametrize(("accept", "expected"), [
    (None, "html"),  # asks for nothing
    ("", "html"),
    ("*/*", "html"),  # requests, curl, the project's own client
    ("text/html", "html"),
    (PIP_ACCEPT, "json"),
    (UV_ACCEPT, "json"),
    (JSON, "json"),
    ("application/vnd.pypi.simple.latest+json", "json"),
    (f"{JSON};q=0.5, text/html", "html"),  # q-values, not order
    (f"text/html;q=0.4, {JSON};q=0.5", "json"),
    (f"{JSON}, text/html", "html"),  # a tie goes to HTML, as on PyPI
    (f"{JSON};q=0, */*", "html"),  # q=0: not acceptable
    (f"{JSON}, */*;q=0.1", "json"),
    ("application/*, text/*;q=0.5", "html"),  # application/* covers v1+html and JSON alike: a tie
    (f"application/*;q=0.1, {JSON};q=0.2", "json"),  # the most specific range gives the quality
    ("text/*;q=0.2, application/vnd.pypi.simple.v1+html;q=0.9", "html"),
    ("application/json", "html"),  # nothing the index serves: HTML, as RFC 9110 allows
    (f"{JSON};q=abc, text/html;q=0.1", "html"),  # a malformed q drops its element
    ("garbage,,;", "html"),
])
def test_accept_header_picks_the_format(accept: str | None, expected: str) -> None:
    assert from_accept(accept) == expected


@pytest.mark.parametrize(("query", "expected"), [
    ("format=application/vnd.pypi.simple.v1+json", "json"),
    ("format=application/vnd.pypi.simple.v1%2Bjson", "json"),
    ("format=application/vnd.pypi.simple.latest+json", "json"),
    ("format=text/html", "html"),
    ("format=application/vnd.pypi.simple.v1+html", "html"),
    ("format=application/json", None),  # named, not served: 406
    ("x=1&format=application/vnd.pypi.simple.v1+json", "json"),
    ("reformat=1", "json"),  # no format parameter: the Accept header decides
])
def test_format_query_wins_over_accept(query: str, expected: str | None) -> None:
    assert choose(PIP_ACCEPT if expected != "html" else "text/html;q=0.1, */*", query) == expected


FILES = [
    FileFacts("lib-1.10.0-py3-none-any.whl", "a" * 64, 1234, "2026-01-02T03:04:05.000006Z", ">=3.8, <4", "m" * 64),
    FileFacts("lib-1.9.0.tar.gz", "b" * 64, 99, "2026-01-01T00:00:00.000000Z", None, None),
    FileFacts("lib-2.0.0rc1-py3-none-any.whl", "c" * 64, 7, "2026-01-03T00:00:00.000000Z", None, "n" * 64),
]
YANKED = {"1.9.0": 'broken "quote" <b>', "2.0.0rc1": ""}


def test_project_html_page_carries_every_fact_escaped() -> None:
    assert render_project("lib", FILES, YANKED) == (
        '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.1">'
        "<title>Links for lib</title></head>\n<body><h1>Links for lib</h1>\n"
        f'<a href="../../packages/lib-1.10.0-py3-none-any.whl#sha256={"a" * 64}" '
        f'data-requires-python="&gt;=3.8, &lt;4" data-core-metadata="sha256={"m" * 64}" '
        f'data-dist-info-metadata="sha256={"m" * 64}">lib-1.10.0-py3-none-any.whl</a><br>\n'
        f'<a href="../../packages/lib-1.9.0.tar.gz#sha256={"b" * 64}" '
        'data-yanked="broken &quot;quote&quot; &lt;b&gt;">lib-1.9.0.tar.gz</a><br>\n'
        f'<a href="../../packages/lib-2.0.0rc1-py3-none-any.whl#sha256={"c" * 64}" '
        f'data-core-metadata="sha256={"n" * 64}" data-dist-info-metadata="sha256={"n" * 64}" '
        'data-yanked="">lib-2.0.0rc1-py3-none-any.whl</a><br>\n'
        "</body></html>\n"
    )


def test_project_json_page_is_pep_691_with_pep_700_and_714() -> None:
    page = json.loads(render_project_json("lib", FILES, YANKED))
    assert page["meta"] == {"api-version": "1.1"} and page["name"] == "lib"
    assert page["versions"] == ["1.9.0", "1.10.0", "2.0.0rc1"]  # by version, not by text
    assert page["files"] == [
        {"filename": "lib-1.10.0-py3-none-any.whl", "url": "../../packages/lib-1.10.0-py3-none-any.whl",
         "hashes": {"sha256": "a" * 64}, "requires-python": ">=3.8, <4", "core-metadata": {"sha256": "m" * 64},
         "size": 1234, "upload-time": "2026-01-02T03:04:05.000006Z",
         "yanked": False},
        {"filename": "lib-1.9.0.tar.gz", "url": "../../packages/lib-1.9.0.tar.gz", "hashes": {"sha256": "b" * 64},
         "core-metadata": False, "size": 99,
         "upload-time": "2026-01-01T00:00:00.000000Z", "yanked": 'broken "quote" <b>'},
        {"filename": "lib-2.0.0rc1-py3-none-any.whl", "url": "../../packages/lib-2.0.0rc1-py3-none-any.whl",
         "hashes": {"sha256": "c" * 64}, "core-metadata": {"sha256": "n" * 64},
         "size": 7, "upload-time": "2026-01-03T00:00:00.000000Z",
         "yanked": True},  # yanked without a reason
    ]


def test_root_json_page_lists_projects() -> None:
    assert json.loads(render_root_json(["b-lib", "a-lib"])) == {
        "meta": {"api-version": "1.1"}, "projects": [{"name": "a-lib"}, {"name": "b-lib"}]}


def test_page_cache_writes_both_formats_and_rerenders_on_a_yank(tmp_path: Path) -> None:
    cache = PageCache(tmp_path)
    cache.rebuild({f.filename: f for f in FILES}, {f.filename: "lib" for f in FILES})
    before = cache.get("lib", "json")
    assert before is not None and (tmp_path / "lib" / "index.json").read_bytes() == before.body
    assert json.loads((tmp_path / "index.json").read_text())["projects"] == [{"name": "lib"}]
    cache.set_yanked("lib", {"1.10.0": "bad"})
    after, html = cache.get("lib", "json"), cache.get("lib", "html")
    assert after is not None and html is not None and after.etag != before.etag
    assert json.loads((tmp_path / "lib" / "index.json").read_text())["files"][0]["yanked"] == "bad"
    assert b'data-yanked="bad"' in (tmp_path / "lib" / "index.html").read_bytes() == html.body


def test_record_reads_both_forms_and_writes_the_facts() -> None:
    old = parse_record('{"lib-1.0-py3-none-any.whl": "' + "a" * 64 + '"}')
    assert old == {"lib-1.0-py3-none-any.whl": FileFacts("lib-1.0-py3-none-any.whl", "a" * 64)}
    facts = {f.filename: f for f in FILES}
    assert parse_record(render_record(facts)) == facts
    assert parse_record("not json") == {}


def test_upload_time_is_pep_700_format() -> None:
    assert upload_time(0) == "1970-01-01T00:00:00.000000Z"
    assert upload_time(1767225600.25) == "2026-01-01T00:00:00.250000Z"


@pytest.mark.parametrize(("metadata", "expected"), [
    (b"Name: x\nRequires-Python:  >=3.9 \n\nbody", ">=3.9"),
    (b"Name: x\n\n", None),
    (b"Name: x\nRequires-Python: not a specifier\n\n", None),  # installers would choke on it
])
def test_requires_python_from_metadata(metadata: bytes, expected: str | None) -> None:
    assert parse_core_metadata(metadata).requires_python == expected


