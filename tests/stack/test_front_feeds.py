"""The Atom feeds through the nginx front: its locations (rendered), and a real nginx serving the
feeds the registry wrote from disk, with the registry killed, and asking the registry for a
feed that is not on disk."""

from __future__ import annotations

from pathlib import Path

import feedparser
import pytest
import requests

from helperhub.stack.front import FrontSettings, render_nginx_conf, start_front
from tests.conftest import free_port
from tests.indexclients import build_sdist
from tests.sidebyside import Server, make_wheel

ATOM = "application/atom+xml"


def test_front_serves_the_feeds_from_the_catalog_folder(tmp_path: Path) -> None:
    conf = render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st", app="127.0.0.1:8080"))
    catalog = (tmp_path / "pk" / ".catalog").resolve()
    assert (f"location = /feed.atom {{\n      root {catalog};\n      types {{ }}\n      default_type {ATOM};\n"
            "      add_header Cache-Control no-cache;\n      try_files /feed.atom @app_catalog;\n    }") in conf
    assert ("location ~ ^/helpers/([a-z0-9][a-z0-9-]*)/feed\\.atom$ {\n"
            f"      root {catalog};") in conf
    assert "try_files /helpers/$1/feed.atom @app;" in conf
    static = render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st"))
    assert "try_files /feed.atom =404;" in static and "try_files /helpers/$1/feed.atom =404;" in static



@pytest.mark.slow
def test_feeds_through_the_front(readable_tmp: Path, tmp_path: Path) -> None:
    server = Server("helperhub", readable_tmp / "reg").start()
    listen = f"127.0.0.1:{free_port()}"
    front = None
    try:
        for version in ("1.0.0", "1.1.0"):
            assert server.upload(*make_wheel("front-feed", version)) == 200
            sdist = build_sdist(tmp_path, "front-feed", version)
            assert server.upload(sdist.name, sdist.path.read_bytes()) == 200
        assert server.upload(*make_wheel("quiet-lib", "1.0.0")) == 200
        sdist = build_sdist(tmp_path, "quiet-lib", "1.0.0")
        assert server.upload(sdist.name, sdist.path.read_bytes()) == 200
        catalog = server.packages / ".catalog"
        (catalog / "helpers/quiet-lib/feed.atom").unlink()  # a feed not on disk: the registry answers
        front = start_front(FrontSettings(listen, server.packages, readable_tmp / "front",
                                          app=f"127.0.0.1:{server.port}"))
        url = f"http://{listen}"
        proxied = requests.get(f"{url}/helpers/quiet-lib/feed.atom", timeout=10)
        assert proxied.status_code == 200 and proxied.headers["Content-Type"] == ATOM
        assert [e.title for e in feedparser.parse(proxied.content).entries] == ["quiet-lib 1.0.0 released"]
        moved = requests.get(f"{url}/helpers/Front_Feed/feed.atom", timeout=10, allow_redirects=False)
        assert (moved.status_code, moved.headers["Location"]) == (301, "/helpers/front-feed/feed.atom")
        assert b'href="feed.atom"' in requests.get(f"{url}/helpers/front-feed/", timeout=10).content

        server.kill()  # SIGKILL: what is on disk must be enough
        for path, titles in (("/feed.atom", ["quiet-lib 1.0.0 released", "front-feed 1.1.0 released",
                                             "front-feed 1.0.0 released"]),
                             ("/helpers/front-feed/feed.atom", ["front-feed 1.1.0 released",
                                                                "front-feed 1.0.0 released"])):
            got = requests.get(f"{url}{path}", timeout=10)
            assert got.status_code == 200 and got.headers["Content-Type"] == ATOM, path
            assert got.headers["Cache-Control"] == "no-cache"
            assert got.content == (catalog / path.lstrip("/")).read_bytes(), path
            parsed = feedparser.parse(got.content)
            assert not parsed.bozo and [e.title for e in parsed.entries] == titles, path
        assert requests.get(f"{url}/helpers/quiet-lib/feed.atom", timeout=10).status_code == 502
    finally:
        server.kill()
        if front is not None:
            front.terminate()
            front.wait(timeout=10)
