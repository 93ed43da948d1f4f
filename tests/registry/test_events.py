"""The event journal, the webhooks file and the Atom feeds without a server: appends read back
from any offset, a torn line cut off, releases only for a version's first file, the webhooks
file's refusals (one line each, also from `registry serve`), and feeds that feedparser reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner
from packaging.version import Version

from helperhub.core.errors import ConfigError
from helperhub.registry.__main__ import serve_command
from helperhub.registry.server.catalog.atom import render_feed
from helperhub.registry.server.catalog.feeds import FeedCache
from helperhub.registry.server.delivery import signature
from helperhub.registry.server.events import EVENTS_DIR, EventLog, Journal
from helperhub.registry.server.metadata import FileFacts
from helperhub.registry.server.webhooks import Hook, load_webhooks, parse_webhooks

SHA = "ab" * 32
INDEX = "http://pypi.example.org:8080"


def append(journal: Journal, project: str = "lib", version: str = "1.0", kind: str = "release") -> str:
    return journal.append(kind, project, version, "2026-01-02T03:04:05.000000Z", [f"{project}-{version}.tar.gz"],
                          "alice").event.id


def test_journal_reads_back_from_any_offset_and_goes_on_after_a_reopen(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    ids = [append(journal, version=f"1.{i}") for i in range(3)]
    read = journal.read(0)
    assert [r.event.id for r in read] == ids and [r.event.seq for r in read] == [1, 2, 3]
    assert [r.event.id for r in journal.read(read[0].end)] == ids[1:]
    assert journal.read(read[-1].end) == [] and read[-1].end == journal.end == journal.path.stat().st_size
    assert journal.read(0, limit=2)[-1].end == read[1].end
    assert journal.before(read[1].end) == read[1].event and journal.before(0) is None
    assert journal.before(read[1].end - 1) is None, "not the end of a line"
    assert json.loads(read[0].raw) == read[0].event.record()
    journal.close()
    again = Journal(tmp_path)
    assert append(again, version="2.0").startswith("4-"), "the sequence goes on"
    assert len({*ids, again.read(0)[-1].event.id}) == 4


def test_a_torn_last_line_is_cut_off_and_a_bad_line_skipped(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    first = append(journal)
    journal.close()
    path = tmp_path / "journal.jsonl"
    good = path.read_bytes()
    path.write_bytes(good + b'not json\n{"id": "2-x", "seq": 2, "event": "rel')  # a crash mid-write
    reopened = Journal(tmp_path)
    assert path.read_bytes() == good + b"not json\n"
    assert [r.event.id for r in reopened.read(0)] == [first]  # the bad line is skipped
    assert append(reopened).startswith("2-")
    assert [r.event.seq for r in reopened.read(0)] == [1, 2]


def test_a_release_is_the_first_file_of_a_version(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    seen: list[str] = []
    log.listeners.append(lambda logged: seen.append(logged.event.id))
    log.listeners.append(lambda logged: 1 / 0)  # a failing listener never fails the write
    files: list[str] = []

    def land(name: str, project: str = "lib") -> str | None:
        files.append(name)
        logged = log.landed(project, FileFacts(name, SHA, 1, "2026-01-02T03:04:05.000000Z"), files, "alice")
        return logged.event.version if logged else None

    assert land("lib-1.0-py3-none-any.whl") == "1.0"
    assert land("lib-1.0.tar.gz") is None
    assert land("lib-1.0.0-py3-none-manylinux_2_17_x86_64.whl") is None, "1.0.0 is 1.0"
    assert land("lib-1.0.1-1-py3-none-any.whl") == "1.0.1", "a build tag is no version"
    assert land("other-1.0.tar.gz", "other") == "1.0"
    yank = log.noted("yank", "lib", Version("1.0"), files, "bob", reason="x" * 5000)
    assert yank.event.files == ("lib-1.0-py3-none-any.whl", "lib-1.0.0-py3-none-manylinux_2_17_x86_64.whl",
                                "lib-1.0.tar.gz")
    assert yank.event.get("reason") == "x" * 2000 and yank.event.by == "bob"
    assert len(seen) == 4 and (tmp_path / EVENTS_DIR / "journal.jsonl").is_file()


def test_signature_is_hmac_sha256_of_the_body() -> None:
    # the value a receiver computes: hmac.new(secret, body, sha256).hexdigest()
    assert signature(b"It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


def test_webhooks_file(tmp_path: Path) -> None:
    (tmp_path / "ci.secret").write_text("s3\n")
    path = tmp_path / "hooks.toml"
    path.write_text('retry-max = 5\n[[hook]]\nurl = "https://ci.example/h?t=1"\nsecret-file = "ci.secret"\n'
                    '[[hook]]\nname = "team"\nurl = "http://127.0.0.1:9/x"\nsecret-env = "TEAM"\n'
                    'events = ["release", "yank"]\nprojects = ["Tabular_*"]\n')
    settings = load_webhooks(path, {"TEAM": "t"})
    ci, team = settings.hooks
    assert (ci.secret, ci.name, ci.events, ci.projects) == (b"s3", "ci.example", {"release", "yank", "unyank",
                                                                                  "image", "delete"}, ("*",))
    assert (team.secret, team.name, team.projects) == (b"t", "team", ("tabular-*",))
    assert (settings.timeout, settings.retry_min, settings.retry_max) == (10.0, 1.0, 5.0)
    assert "s3" not in repr(settings), "secrets stay out of reprs and logs"
    assert ci.key != team.key and load_webhooks(path, {"TEAM": "t"}).hooks[0].key == ci.key
    assert parse_webhooks("", "f", tmp_path, {}).hooks == ()


@pytest.mark.parametrize(("text", "message"), [
    ("[[hook", "is not valid TOML"),
    ('hooks = []', "unknown key 'hooks'"),
    ('[[hook]]\nsecret-env = "S"', "url must be an http:// or https:// URL"),
    ('[[hook]]\nurl = "ftp://h/x"\nsecret-env = "S"', "url must be an http://"),
    ('[[hook]]\nurl = "http://u:p@h/x"\nsecret-env = "S"', "no login"),
    ('[[hook]]\nurl = "http://h/x"', "exactly one of secret-file"),
    ('[[hook]]\nurl = "http://h/x"\nsecret-env = "S"\nsecret-file = "f"', "exactly one of secret-file"),
    ('[[hook]]\nurl = "http://h/x"\nsecret-env = "UNSET"', "UNSET is not set or empty"),
    ('[[hook]]\nurl = "http://h/x"\nsecret-file = "missing"', "cannot be read"),
    ('[[hook]]\nurl = "http://h/x"\nsecret-env = "S"\nevents = ["upload"]', "events must be a non-empty list"),
    ('[[hook]]\nurl = "http://h/x"\nsecret-env = "S"\nprojects = "tab-*"', "projects must be a non-empty list"),
    ('[[hook]]\nurl = "http://h/x"\nsecret-env = "S"\nretries = 3', "unknown key 'retries'"),
    ('retry-min = 0\n', "retry-min must be a number of seconds above 0"),
    ('retry-min = 9\nretry-max = 2\n', "retry-min (9.0) is above retry-max (2.0)"),
    ('[[hook]]\nurl = "http://h/x"\nsecret-env = "S"\n[[hook]]\nurl = "http://h/x"\nsecret-env = "S"',
     "two hooks post to http://h/..."),
])
def test_a_bad_webhooks_file_is_refused_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as exc:
        parse_webhooks(text, "hooks.toml", tmp_path, {"S": "secret"})
    assert "\n" not in str(exc.value)


def test_registry_serve_stops_on_a_bad_webhooks_file_before_serving(tmp_path: Path) -> None:
    bad = tmp_path / "hooks.toml"
    bad.write_text('[[hook]]\nurl = "http://h/x"\nsecret-env = "HUB_TEST_UNSET_SECRET"\n')
    for path in (bad, tmp_path / "missing.toml"):
        result = CliRunner().invoke(serve_command, ["--port", "1", "--packages", str(tmp_path / "pk"),
                                                    "--webhooks", str(path)], env={"HUB_TEST_UNSET_SECRET": ""})
        assert result.exit_code == 1
        assert result.output.count("\n") == 1 and result.output.startswith("Error: ")
        assert not (tmp_path / "pk").exists(), "nothing started, nothing written"


def test_a_hook_wants_its_events_of_its_projects(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    append(journal, "tabular-helpers")
    append(journal, "tabular-helpers", kind="yank")
    append(journal, "vision-helpers")
    hook = Hook("http://h/x", b"s", frozenset({"release"}), ("tabular-*",))
    assert [hook.wants(r.event) for r in journal.read(0)] == [True, False, False]


def test_feed_is_valid_atom_and_escapes_what_users_wrote(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    append(journal, "lib", "1.0")
    journal.append("yank", "lib", "1.0", "2026-01-03T00:00:00.000000Z", ["lib-1.0.tar.gz"], "bob",
                   {"reason": '<script>alert("x")</script> & \x00\x1b done'})
    journal.append("image", "lib", "1.0", "2026-01-04T00:00:00.000000Z", [], "bob",
                   {"target": "py313", "image": "r:5000/lib@sha256:" + "cd" * 32})
    events = [r.event for r in reversed(journal.read(0))]
    text = render_feed(INDEX, events, "lib")
    parsed = feedparser.parse(text)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10" and parsed.feed.title == "lib: releases, yanks and images"
    assert parsed.feed.id == f"{INDEX}/helpers/lib/feed.atom" and parsed.feed.updated == "2026-01-04T00:00:00.000000Z"
    assert [e.id for e in parsed.entries] == [f"urn:helperhub:event:{e.id}" for e in events]
    image, yank, release = parsed.entries
    assert yank.title == 'lib 1.0 yanked: <script>alert("x")</script> &  done'  # text, never markup
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert (release.title, release.author, release.link) == ("lib 1.0 released", "alice", f"{INDEX}/helpers/lib/#v1.0")
    assert image.title == "lib 1.0 image for py313" and "r:5000/lib@sha256:" in image.summary
    assert release.published_parsed[:3] == (2026, 1, 2) and release.tags[0].term == "release"
    empty = feedparser.parse(render_feed(INDEX, []))
    assert not empty.bozo and empty.entries == [] and empty.feed.link == f"{INDEX}/"


def test_feed_cache_keeps_the_newest_and_rewrites_only_what_changed(tmp_path: Path) -> None:
    journal, static = Journal(tmp_path / "events"), tmp_path / "catalog"
    for i in range(5):
        append(journal, "a" if i % 2 else "b", f"1.{i}")
    feeds = FeedCache(static, INDEX, journal, limit=3)
    assert feeds.feed() is None, "nothing on disk before the first load"
    feeds.load()
    index = feedparser.parse((static / "feed.atom").read_bytes())
    assert [e.title for e in index.entries] == ["b 1.4 released", "a 1.3 released", "b 1.2 released"]
    feed = feeds.feed("a")
    assert feed is not None and feed.body == (static / "helpers/a/feed.atom").read_bytes()
    assert feeds.feed("c") is None and feedparser.parse(feeds.empty("c").body).entries == []
    stamps = {p: p.stat().st_mtime_ns for p in static.rglob("*.atom")}

    again = FeedCache(static, INDEX, journal, limit=3)
    assert again.feed("a") == feed, "answered from disk until loaded"
    again.load()
    assert {p: p.stat().st_mtime_ns for p in static.rglob("*.atom")} == stamps, "a start rewrites nothing current"
    logged = journal.append("release", "a", "2.0", "2026-02-01T00:00:00.000000Z", ["a-2.0.tar.gz"], "alice")
    again.added(logged)
    assert feedparser.parse((static / "helpers/a/feed.atom").read_bytes()).entries[0].title == "a 2.0 released"
    assert (static / "helpers/b/feed.atom").stat().st_mtime_ns == stamps[static / "helpers/b/feed.atom"]
    index_feed = again.feed()
    assert index_feed is not None and b"a 2.0 released" in index_feed.body

    other = FeedCache(static, "http://other:8080", journal, limit=3)  # another --public-url: all again
    other.load()
    assert b"http://other:8080/helpers/b/" in (static / "helpers/b/feed.atom").read_bytes()
