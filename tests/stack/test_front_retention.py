"""Retention through the nginx front: a file the registry deleted answers 410 Gone with its reason
(its metadata file and provenance too) as soon as gc returns, even on a connection that read it
just before; a real nginx in front of a real registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import requests

from helperhub.registry.client import IndexSettings, attach_on_index
from helperhub.registry.retention_client import retention_plan
from helperhub.stack.front import FrontSettings, render_nginx_conf, start_front
from tests.conftest import free_port, missing
from tests.sidebyside import PASSWORD, USER, Server, make_wheel

ENVELOPE = b'{"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": []}'


def test_front_keeps_no_deleted_file_open(tmp_path: Path) -> None:
    conf = render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st", app="127.0.0.1:8080"))
    assert "open_file_cache " not in conf and "open_file_cache_valid" not in conf



@pytest.mark.slow
def test_a_deleted_file_is_gone_through_the_front(readable_tmp: Path) -> None:
    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        missing("nginx is not installed", "run `make test-tools`")
    server = Server("helperhub", readable_tmp / "reg", options=("--admin", USER)).start()
    login = IndexSettings(server.url, USER, PASSWORD)
    listen = f"127.0.0.1:{free_port()}"
    front = None
    try:
        wheels = {}
        for version in ("1.0.0", "1.1.0", "1.2.0"):
            name, data = make_wheel("gone-lib", version)
            assert server.upload(name, data) == 200
            wheels[version] = (name, data)
        old, old_bytes = wheels["1.0.0"]
        kept = wheels["1.2.0"][0]
        attach_on_index(login, "gone-lib", "1.0.0", ENVELOPE, file=old)
        front = start_front(FrontSettings(listen, server.packages, readable_tmp / "front",
                                          app=f"127.0.0.1:{server.port}"))
        url = f"http://{listen}/packages"
        with requests.Session() as session:  # one connection, so one nginx worker and whatever it keeps
            for _ in range(2):  # the first read opens the file, the second is served as a cached one would be
                read = session.get(f"{url}/{old}", timeout=10)
                assert read.status_code == 200 and read.content == old_bytes
                assert session.get(f"{url}/{old}.metadata", timeout=10).status_code == 200
                assert session.get(f"{url}/{old}.provenance.json", timeout=10).content == ENVELOPE

            plan = retention_plan(login, "[retention]\nkeep-newest = 1\n", apply=True)
            assert {d["file"] for d in plan["delete"]} == {old, wheels["1.1.0"][0]} and plan["applied"]

            gone = session.get(f"{url}/{old}", timeout=10)
            assert gone.status_code == 410, gone.content[:200]
            assert gone.text.startswith(f"{old} was deleted on ") and "not among the 1 newest" in gone.text
            assert gone.headers["Cache-Control"] == "no-cache"  # not the files' immutable one
            for served in (f"{old}.metadata", f"{old}.provenance.json"):
                answer = session.get(f"{url}/{served}", timeout=10)
                assert answer.status_code == 410 and "not among the 1 newest" in answer.text, served
            assert session.head(f"{url}/{old}", timeout=10).status_code == 410
            assert session.get(f"{url}/{kept}", timeout=10).content == wheels["1.2.0"][1]
            page = session.get(f"http://{listen}/simple/gone-lib/", timeout=10).text
            assert kept in page and old not in page
    finally:
        server.kill()
        if front is not None:
            front.terminate()
            front.wait(timeout=10)
