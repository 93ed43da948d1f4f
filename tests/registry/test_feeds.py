"""The Atom feeds of a real `registry serve`, read with feedparser: the index's and each helper's,
rendered at each event, served from memory as written to disk, linked from the catalog pages,
kept across a restart without being rewritten, and empty but valid for a registry that had files
before it kept a journal."""

from __future__ import annotations

import shutil
from pathlib import Path

import feedparser
import pytest
import requests

from helperhub.registry.client import IndexSettings, record_image_on_index, set_yanked
from tests.indexclients import build_sdist
from tests.sidebyside import PASSWORD, USER, Server, make_wheel
from tests.webhook_receiver import journal_ids

PUBLIC = "http://pypi.example.org:8080"
ATOM = "application/atom+xml"
IMAGE = "registry.example:5000/feed-lib@sha256:" + "ef" * 32


def release(server: Server, tmp: Path, name: str, version: str) -> None:
    """A helper release: its wheel, then its sdist."""
    assert server.upload(*make_wheel(name, version)) == 200
    sdist = build_sdist(tmp / "dists", name, version)
    assert server.upload(sdist.name, sdist.path.read_bytes()) == 200


def fetch(url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, timeout=10, allow_redirects=False)


@pytest.mark.slow
def test_feeds_follow_each_event_and_survive_a_restart(tmp_path: Path) -> None:
    server = Server("helperhub", tmp_path, options=("--public-url", PUBLIC)).start()
    login = IndexSettings(server.url, USER, PASSWORD)
    catalog = server.packages / ".catalog"
    try:
        empty = fetch(f"{server.url}/feed.atom")
        assert empty.status_code == 200 and feedparser.parse(empty.content).entries == []

        release(server, tmp_path, "feed-lib", "1.0.0")
        release(server, tmp_path, "feed-lib", "1.1.0")
        set_yanked(login, "feed-lib", "1.0.0", "<b>drops rows</b> & more")
        record_image_on_index(login, "feed-lib", "1.1.0", IMAGE)
        assert server.upload(*make_wheel("numpy", "2.1.3")) == 200  # mirrored: in the index's feed
        ids = journal_ids(server.packages)
        assert len(ids) == 5

        index = fetch(f"{server.url}/feed.atom")
        assert index.status_code == 200 and index.headers["Content-Type"] == ATOM
        assert index.content == (catalog / "feed.atom").read_bytes()
        assert fetch(f"{server.url}/feed.atom", **{"If-None-Match": index.headers["ETag"]}).status_code == 304
        parsed = feedparser.parse(index.content)
        assert not parsed.bozo and parsed.version == "atom10"
        assert [e.id for e in parsed.entries] == [f"urn:helperhub:event:{i}" for i in reversed(ids)]
        assert [e.title for e in parsed.entries] == [
            "numpy 2.1.3 released", "feed-lib 1.1.0 image", "feed-lib 1.0.0 yanked: <b>drops rows</b> & more",
            "feed-lib 1.1.0 released", "feed-lib 1.0.0 released"]
        assert parsed.entries[3].link == f"{PUBLIC}/helpers/feed-lib/#v1.1.0" and parsed.entries[3].author == USER
        assert parsed.feed.links[0].href == f"{PUBLIC}/feed.atom"

        helper = fetch(f"{server.url}/helpers/feed-lib/feed.atom")
        assert helper.status_code == 200 and helper.headers["Content-Type"] == ATOM
        assert helper.content == (catalog / "helpers/feed-lib/feed.atom").read_bytes()
        assert [e.title for e in feedparser.parse(helper.content).entries] == [
            t for t in (e.title for e in parsed.entries) if t.startswith("feed-lib")]
        moved = fetch(f"{server.url}/helpers/Feed_Lib/feed.atom")
        assert (moved.status_code, moved.headers["Location"]) == (301, "/helpers/feed-lib/feed.atom")
        assert fetch(f"{server.url}/helpers/no-such-lib/feed.atom").status_code == 404

        for page in ("/", "/helpers/feed-lib/", "/?q=feed"):
            text = fetch(f"{server.url}{page}").text
            assert '<link rel="alternate" type="application/atom+xml"' in text and 'href="feed.atom"' in text
            assert '<a href="feed.atom" type="application/atom+xml">Atom feed</a>' in text

        written = {p: p.stat().st_mtime_ns for p in catalog.rglob("*.atom")}
        server.stop()
        server.start()
        assert fetch(f"{server.url}/feed.atom").content == index.content
        assert fetch(f"{server.url}/helpers/feed-lib/feed.atom").content == helper.content
        assert {p: p.stat().st_mtime_ns for p in catalog.rglob("*.atom")} == written, "current feeds stay as they are"
        release(server, tmp_path, "feed-lib", "1.2.0")
        newer = feedparser.parse(fetch(f"{server.url}/helpers/feed-lib/feed.atom").content)
        assert newer.entries[0].title == "feed-lib 1.2.0 released" and len(newer.entries) == 5
    finally:
        server.kill()


@pytest.mark.slow
def test_a_registry_without_a_journal_starts_one_and_serves_empty_feeds(tmp_path: Path) -> None:
    server = Server("helperhub", tmp_path).start()
    try:
        release(server, tmp_path, "old-lib", "1.0.0")
        server.stop()
        shutil.rmtree(server.packages / ".events")  # a registry from before the journal
        shutil.rmtree(server.packages / ".catalog")
        server.start()
        for url in (f"{server.url}/feed.atom", f"{server.url}/helpers/old-lib/feed.atom"):
            got = fetch(url)
            assert got.status_code == 200 and got.headers["Content-Type"] == ATOM, url
            parsed = feedparser.parse(got.content)
            assert not parsed.bozo and parsed.entries == [], url
        assert (server.packages / ".events/journal.jsonl").read_bytes() == b""
        release(server, tmp_path, "old-lib", "1.1.0")
        entries = feedparser.parse(fetch(f"{server.url}/helpers/old-lib/feed.atom").content).entries
        assert [e.title for e in entries] == ["old-lib 1.1.0 released"]
    finally:
        server.kill()
