"""One login against another's project, and the anonymous network against everyone: each attack
run against a real registry process fails with a clear 4xx in one line, and nothing of the victim
changes."""

from __future__ import annotations

import base64
import http.client
from collections.abc import Iterator

import pytest
import requests

from helperhub.core.errors import RegistryError
from helperhub.registry.client import IndexSettings, index_helpers, record_release_on_index
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


def test_a_record_cannot_turn_another_owners_helper_into_mirrored_files(server: Server) -> None:
    attacker = IndexSettings(server.url, ATTACKER, password(ATTACKER))
    assert {"victim-helpers", "evil-helpers"} <= (index_helpers(attacker) or set())
    record = {"pin": {"version": "1.0.0", "wheel": "evil_helpers-1.0.0-py3-none-any.whl"},
              "mirrored": ["victim_helpers-1.0.0-py3-none-any.whl"]}
    with pytest.raises(RegistryError, match="victim-helpers, a helper of alice; a record lists as mirrored only"):
        record_release_on_index(attacker, "evil-helpers", "1.0.0", record)
    closure = {"pin": {"version": "1.0.0", "wheel": "evil_helpers-1.0.0-py3-none-any.whl", "targets": {"default": {
        "closure": {"linux/amd64": [{"filename": "victim_helpers-1.0.0-py3-none-any.whl"}]}}}}, "mirrored": []}
    with pytest.raises(RegistryError, match="a helper of alice"):  # nor through a closure
        record_release_on_index(attacker, "evil-helpers", "1.0.0", closure)
    assert "victim-helpers" in (index_helpers(attacker) or set())  # still a helper
    record["mirrored"] = []
    assert record_release_on_index(attacker, "evil-helpers", "1.0.0", record) == "evil-helpers 1.0.0 recorded"
