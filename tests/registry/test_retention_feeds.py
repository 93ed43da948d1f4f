"""A version retention deleted leaves the feeds: its release, yank, unyank and image entries go
from the index's and its helper's Atom feeds (the registry's answers and the files the front
serves), the same after a restart that renders them again from the journal; webhooks hear of
each delete. A real registry, a real receiver on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import feedparser
import pytest
import requests

from helperhub.registry.client import IndexSettings, record_image_on_index, set_yanked
from helperhub.registry.retention_client import retention_plan
from tests.indexclients import build_sdist
from tests.sidebyside import PASSWORD, USER, Server, make_wheel
from tests.webhook_receiver import SECRET, Receiver, hooks_file

IMAGE = "registry.example:5000/gone-feed@sha256:"
FEEDS = ("feed.atom", "helpers/gone-feed/feed.atom")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver().start()
    yield running
    running.stop()


def release(server: Server, tmp: Path, name: str, version: str) -> None:
    """A helper release: its wheel, then its sdist."""
    assert server.upload(*make_wheel(name, version)) == 200
    sdist = build_sdist(tmp / "dists", name, version)
    assert server.upload(sdist.name, sdist.path.read_bytes()) == 200


def feeds(server: Server) -> dict[str, bytes]:
    """Each feed as the registry answers it, checked to be the file the front serves."""
    found = {}
    for path in FEEDS:
        got = requests.get(f"{server.url}/{path}", timeout=10)
        assert got.status_code == 200, path
        assert got.content == (server.packages / ".catalog" / path).read_bytes(), path
        found[path] = got.content
    return found


def titles(feed: bytes) -> list[str]:
    parsed = feedparser.parse(feed)
    assert not parsed.bozo
    return [e.title for e in parsed.entries]


@pytest.mark.slow
def test_a_deleted_version_leaves_the_feeds(tmp_path: Path, receiver: Receiver) -> None:
    hooks = hooks_file(tmp_path / "conf", f'url = "{receiver.url}"\nsecret-file = "hook.secret"\nevents = ["delete"]')
    server = Server("helperhub", tmp_path, options=("--admin", USER, "--webhooks", str(hooks))).start()
    login = IndexSettings(server.url, USER, PASSWORD)
    try:
        for version in ("1.0.0", "1.1.0", "1.2.0"):
            release(server, tmp_path, "gone-feed", version)
        release(server, tmp_path, "other-feed", "1.0.0")
        set_yanked(login, "gone-feed", "1.1.0", "flaky")
        set_yanked(login, "gone-feed", "1.1.0", undo=True)
        set_yanked(login, "gone-feed", "1.0.0", "drops rows")
        record_image_on_index(login, "gone-feed", "1.1.0", IMAGE + "11" * 32)
        record_image_on_index(login, "gone-feed", "1.2.0", IMAGE + "12" * 32)
        before = feeds(server)
        assert len(titles(before["helpers/gone-feed/feed.atom"])) == 8  # what the delete must take away

        plan = retention_plan(login, "[retention]\nkeep-newest = 1\n", apply=True)
        assert {(d["project"], d["version"]) for d in plan["delete"]} == {("gone-feed", "1.0.0"),
                                                                          ("gone-feed", "1.1.0")}
        after = feeds(server)
        kept = ["gone-feed 1.2.0 image", "gone-feed 1.2.0 released"]
        assert titles(after["feed.atom"]) == ["gone-feed 1.2.0 image", "other-feed 1.0.0 released",
                                              "gone-feed 1.2.0 released"]
        assert titles(after["helpers/gone-feed/feed.atom"]) == kept
        assert titles(requests.get(f"{server.url}/helpers/other-feed/feed.atom", timeout=10).content) == [
            "other-feed 1.0.0 released"]

        # webhooks hear of each deleted version: its files, why, and who
        deletes = sorted((d.event for d in receiver.wait_for(2)), key=lambda e: e["seq"])
        assert [(e["event"], e["project"], e["version"]) for e in deletes] == [
            ("delete", "gone-feed", "1.0.0"), ("delete", "gone-feed", "1.1.0")]
        assert deletes[0]["files"] == ["gone_feed-1.0.0-py3-none-any.whl", "gone_feed-1.0.0.tar.gz"]
        assert deletes[1]["reason"].startswith("not among the 1 newest") and {e["by"] for e in deletes} == {USER}
        assert all(d.signed_with(SECRET) for d in receiver.taken)

        # a start renders every feed again from the journal (no stamp, no files): the same feeds
        server.stop()
        stamp = server.packages / ".events" / "feeds.json"
        stamp.unlink()
        for path in FEEDS:
            (server.packages / ".catalog" / path).unlink()
        server.start()
        deadline = time.monotonic() + 20
        while not stamp.exists():  # written once the journal is read and the feeds are on disk
            assert time.monotonic() < deadline, "the feeds were not loaded"
            time.sleep(0.05)
        assert feeds(server) == after
    finally:
        server.kill()
