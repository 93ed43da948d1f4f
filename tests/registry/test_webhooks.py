"""Webhooks from a real `registry serve --webhooks` to a receiver on loopback: each release, yank,
unyank and image record signed and delivered with its journal id, filtered per hook; at least once
across a kill -9 between the answer and the delivery, and to a receiver that was down a while;
and never at the cost of an upload's time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helperhub.registry.client import IndexSettings, record_image_on_index, set_yanked
from tests.indexclients import build_sdist
from tests.sidebyside import PASSWORD, USER, Server, make_wheel
from tests.webhook_receiver import SECRET, Receiver, first_seen, hooks_file, journal_ids

IMAGE = "registry.example:5000/hook-lib@sha256:" + "ab" * 32


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()


def start(tmp: Path, hooks: Path) -> Server:
    return Server("helperhub", tmp, options=("--webhooks", str(hooks))).start()


def upload_wheel(server: Server, name: str, version: str) -> float:
    """Upload a small wheel; the seconds the registry took to answer."""
    began = time.monotonic()
    assert server.upload(*make_wheel(name, version)) == 200
    return time.monotonic() - began


@pytest.mark.slow
def test_every_event_is_signed_and_delivered_with_its_id(tmp_path: Path, receiver: Receiver,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    receiver.start()
    only_yanks, releases = Receiver().start(), Receiver().start()
    hooks = hooks_file(tmp_path / "conf", f'url = "{receiver.url}"\nsecret-file = "hook.secret"',
                       f'url = "{only_yanks.url}"\nsecret-file = "hook.secret"\nevents = ["yank"]\n'
                       'projects = ["other-*"]',
                       f'url = "{releases.url}"\nsecret-env = "HOOK_SECRET"\nevents = ["release"]\n'
                       'projects = ["Hook_Lib*"]')
    monkeypatch.setenv("HOOK_SECRET", "another secret")  # read once, when the registry starts
    server = start(tmp_path, hooks)
    try:
        login = IndexSettings(server.url, USER, PASSWORD)
        upload_wheel(server, "hook-lib", "1.0.0")
        sdist = build_sdist(tmp_path / "dists", "hook-lib", "1.0.0")
        assert server.upload(sdist.name, sdist.path.read_bytes()) == 200  # no new version: no event
        upload_wheel(server, "hook-lib", "1.1")
        set_yanked(login, "hook-lib", "1.0.0", 'breaks on <pandas> 3 & "friends"')
        set_yanked(login, "hook-lib", "1.0.0", undo=True)
        record_image_on_index(login, "hook-lib", "1.1", IMAGE, target="py313")
        upload_wheel(server, "numpy", "2.1.3")

        got = first_seen(receiver.wait_for(6))
        assert got == journal_ids(server.packages)
        events = {d.headers["X-Helperhub-Delivery"]: d for d in receiver.taken}
        bodies = [events[i].event for i in got]
        assert [(b["event"], b["project"], b["version"]) for b in bodies] == [
            ("release", "hook-lib", "1.0.0"), ("release", "hook-lib", "1.1"), ("yank", "hook-lib", "1.0.0"),
            ("unyank", "hook-lib", "1.0.0"), ("image", "hook-lib", "1.1"), ("release", "numpy", "2.1.3")]
        assert bodies[0]["files"] == ["hook_lib-1.0.0-py3-none-any.whl"] and bodies[0]["by"] == USER
        assert bodies[2]["files"] == ["hook_lib-1.0.0-py3-none-any.whl", "hook_lib-1.0.0.tar.gz"]
        assert bodies[2]["reason"] == 'breaks on <pandas> 3 & "friends"' and "reason" not in bodies[3]
        assert (bodies[4]["target"], bodies[4]["image"]) == ("py313", IMAGE)
        assert [b["seq"] for b in bodies] == [1, 2, 3, 4, 5, 6] and len(set(got)) == 6
        for delivered in events.values():
            assert delivered.signed_with(SECRET), delivered.headers
            assert not delivered.signed_with("another secret")
            assert delivered.headers["X-Helperhub-Event"] == delivered.event["event"]
            assert delivered.headers["X-Helperhub-Delivery"] == delivered.event["id"]
            assert delivered.headers["Content-Type"] == "application/json"
            assert delivered.path == "/hooks/helperhub"

        # filtered per hook: releases of hook-lib only, signed with the secret from the environment
        filtered = releases.wait_for(2)
        assert [d.event["version"] for d in filtered] == ["1.0.0", "1.1"]
        assert all(d.signed_with("another secret") for d in filtered)
        time.sleep(0.5)
        assert only_yanks.attempts == [] and len(first_seen(releases.taken)) == 2
    finally:
        server.kill()
        only_yanks.stop()
        releases.stop()


@pytest.mark.slow
def test_an_event_answered_before_a_kill_9_is_delivered_after_the_restart(
        tmp_path: Path, receiver: Receiver) -> None:
    """The receiver is down: the upload is answered, the registry killed before any delivery
    could succeed; restarted with the receiver up, the event arrives, with the journal's id."""
    server = start(tmp_path, hooks_file(tmp_path / "conf", f'url = "{receiver.url}"\nsecret-file = "hook.secret"'))
    try:
        upload_wheel(server, "kill-lib", "1.0.0")
        [event_id] = journal_ids(server.packages)
        time.sleep(0.5)  # a few refused tries
        cursor = next((tmp_path / "packages/.events/cursors").glob("*.json")).read_text()
        assert '"offset": 0' in cursor, "nothing was delivered, so the cursor has not moved"
        server.kill()
        receiver.start()
        server.start()
        assert first_seen(receiver.wait_for(1)) == [event_id]
        assert receiver.taken[0].signed_with(SECRET)
        upload_wheel(server, "kill-lib", "1.1.0")
        assert first_seen(receiver.wait_for(2)) == journal_ids(server.packages)
    finally:
        server.kill()


@pytest.mark.slow
def test_a_receiver_down_a_while_gets_every_event_and_never_slows_an_upload(
        tmp_path: Path, receiver: Receiver) -> None:
    receiver.delay, receiver.status = 5.0, 200  # hangs past the delivery timeout of 2 s
    receiver.start()
    server = start(tmp_path, hooks_file(tmp_path / "conf", f'url = "{receiver.url}"\nsecret-file = "hook.secret"'))
    try:
        took = [upload_wheel(server, "down-lib", f"1.{i}.0") for i in range(3)]
        assert max(took) < 2.0, f"uploads waited for the receiver: {took}"
        receiver.delay, receiver.status = 0.0, 503  # answering, refusing
        took += [upload_wheel(server, "down-lib", f"2.{i}.0") for i in range(2)]
        assert max(took) < 2.0, f"uploads waited for the receiver: {took}"
        deadline = time.monotonic() + 10
        while len(receiver.attempts) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(receiver.attempts) >= 4, "tried again and again"
        assert {d.headers["X-Helperhub-Delivery"] for d in receiver.attempts} == {journal_ids(server.packages)[0]}
        receiver.status = 200
        delivered = receiver.wait_for(5)
        assert first_seen(delivered) == journal_ids(server.packages), "every event, in journal order"
        assert all(d.signed_with(SECRET) for d in delivered)
    finally:
        server.kill()
