"""The nginx front's rendered configuration: what it serves from disk, what it proxies, what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from helperhub.core.errors import ConfigError
from helperhub.stack.front import FrontSettings, render_nginx_conf


def test_nginx_front_serves_pages_and_files_and_proxies_the_rest(tmp_path: Path) -> None:
    conf = render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st", app="127.0.0.1:8080"))
    assert "listen 127.0.0.1:9000" in conf
    assert f"root {(tmp_path / 'pk' / '.simple').resolve()};" in conf
    assert "try_files /$1/index.html @app;" in conf
    assert "location ~ ^/packages/([^/.][^/]*)$" in conf  # no hidden temp files served
    assert "proxy_pass http://127.0.0.1:8080;" in conf and "immutable" in conf
    static = render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st"))
    assert "proxy_pass" not in static and "try_files /$1 =404;" in static


def test_front_refuses_a_registry_with_authenticated_reads(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--auth-reads"):
        render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st", app="127.0.0.1:8080",
                                        auth_reads=True))


def test_compose_front_config_is_the_rendered_one() -> None:
    from tests.conftest import REPO

    committed = (REPO / "registry/nginx/compose.conf").read_text()
    rendered = render_nginx_conf(FrontSettings("0.0.0.0:8080", Path("/data/packages"), Path("/tmp/nginx"),
                                               app="registry-app:8081"))
    assert committed.split("\n", 1)[1] == rendered  # first line: a comment naming the renderer


def test_front_negotiates_json_and_serves_metadata_files(tmp_path: Path) -> None:
    conf = render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st", app="127.0.0.1:8080"))
    pk = (tmp_path / "pk").resolve()
    assert "rewrite ^/simple/(([a-z0-9][a-z0-9-]*/)?)$ /.json/$1 last;" in conf
    assert "default_type application/vnd.pypi.simple.v1+json;" in conf and conf.count("add_header Vary Accept;") == 4
    assert "try_files /$1/index.json @app_json;" in conf and "upstream hub_registry { server 127.0.0.1:8080; }" in conf
    assert f"location ~ ^/packages/([^/.][^/]*\\.whl\\.metadata)$ {{\n      root {pk / '.metadata'};" in conf
    assert conf.index("\\.whl\\.metadata)$") < conf.index("location ~ ^/packages/([^/.][^/]*)$")  # first match wins
    static = render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st"))
    assert "try_files /$1/index.json =404;" in static and "upstream" not in static

