"""One login against another's project, and the anonymous network against everyone: each attack
run against a real registry process fails with a clear 4xx in one line, and nothing of the victim
changes."""

from __future__ import annotations

import base64
import http.client
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.catalog_site import password, upload, write_wheel
from tests.sidebyside import Server

VICTIM, ATTACKER = "alice", "mallory"


def metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {name} things\n".encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("abuse")
    running = Server("helperhub", tmp / "reg", users=((VICTIM, password(VICTIM)), (ATTACKER, password(ATTACKER))))
    running.start()
    upload(running.url, VICTIM, write_wheel(tmp, "victim-helpers", "1.0.0", metadata("victim-helpers", "1.0.0")))
    upload(running.url, ATTACKER, write_wheel(tmp, "evil-helpers", "1.0.0", metadata("evil-helpers", "1.0.0")))
    yield running
    running.kill()


def raw_get(url: str, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", path, headers=headers or {})
    return conn.getresponse()


@pytest.mark.parametrize("path", ["/simple/Foo%0d%0aSet-Cookie:%20x=1%0d%0aX:/",
                                  "/simple/Foo%0d%0aSet-Cookie:%20x=1%0d%0aX:"])
def test_a_path_puts_no_header_into_a_redirect(server: Server, path: str) -> None:
    answer = raw_get(server.url, path)
    assert answer.status == 404 and answer.getheader("Set-Cookie") is None and answer.getheader("Location") is None
    assert b"not a project name" in answer.read()
    renamed = raw_get(server.url, "/simple/Victim_Helpers/")  # a real name still redirects to its canonical form
    assert (renamed.status, renamed.getheader("Location")) == (301, "/simple/victim-helpers/")


def test_a_control_character_in_a_basic_auth_user_is_no_login(server: Server) -> None:
    token = base64.b64encode(f"{ATTACKER}\tx:{password(ATTACKER)}".encode()).decode()
    answer = requests.post(f"{server.url}/", files={":action": (None, "yank"), "name": (None, "evil-helpers"),
                                                    "version": (None, "1.0.0")},
                           headers={"Authorization": f"Basic {token}"}, timeout=10)
    assert 400 <= answer.status_code < 500 and "Traceback" not in answer.text, answer.text


def test_a_project_with_files_but_no_owner_is_written_by_admins_only(tmp_path: Path) -> None:
    """Files copied in (older than the owners file, restored from a backup) have no owner: no login
    takes them over by a yank, a new version or an attached document; an admin still may."""
    reg = Server("helperhub", tmp_path / "reg", users=((VICTIM, password(VICTIM)), (ATTACKER, password(ATTACKER))),
                 options=("--admin", VICTIM))
    wheel = write_wheel(tmp_path, "old-helpers", "1.0.0", metadata("old-helpers", "1.0.0"))
    reg.packages.mkdir(parents=True, exist_ok=True)
    shutil.copy(wheel, reg.packages / wheel.name)  # copied in: nobody uploaded it
    reg.start()
    try:
        for user, allowed in ((ATTACKER, False), (VICTIM, True)):
            answer = requests.post(f"{reg.url}/", files={":action": (None, "yank"), "name": (None, "old-helpers"),
                                                         "version": (None, "1.0.0")},
                                   auth=(user, password(user)), timeout=10)
            if allowed:
                assert answer.status_code == 200, answer.text
            else:
                assert answer.status_code == 403 and "has files but no owner, so only an admin may" in answer.text
        newer = write_wheel(tmp_path, "old-helpers", "1.0.1", metadata("old-helpers", "1.0.1"))
        with pytest.raises(AssertionError, match="403"):
            upload(reg.url, ATTACKER, newer)
        assert "old_helpers-1.0.1-py3-none-any.whl" not in requests.get(f"{reg.url}/simple/old-helpers/",
                                                                         timeout=10).text
    finally:
        reg.kill()


def test_a_yank_reason_is_one_bounded_line(server: Server) -> None:
    """A reason goes into every page and feed that shows the version: megabytes of it, or lines, are refused."""
    for reason in ("x" * (7 << 20), "line\nSet-Cookie: x=1"):
        answer = requests.post(f"{server.url}/", files={":action": (None, "yank"), "name": (None, "evil-helpers"),
                                                        "version": (None, "1.0.0"), "reason": (None, reason)},
                               auth=(ATTACKER, password(ATTACKER)), timeout=60)
        assert answer.status_code == 400 and "a yank reason is one line of at most 500 characters" in answer.text
    assert "data-yanked" not in requests.get(f"{server.url}/simple/evil-helpers/", timeout=10).text
