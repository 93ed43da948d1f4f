"""Pure pieces of the registry's read path, upload validation, the nginx front and the bench."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.wrk import parse_wrk
from helperhub.core.errors import ConfigError
from helperhub.images.context import dependency_words
from helperhub.registry.server.simple.pages import PageCache, render_project
from helperhub.registry.server.validate import UploadRefused, check_filename
from helperhub.stack.front import FrontSettings, render_nginx_conf


def test_project_page_links_every_file_with_its_hash() -> None:
    page = render_project("tabular-helpers", [("tabular_helpers-1.0.0.tar.gz", "b" * 64),
                                              ("tabular_helpers-1.0.0-py3-none-any.whl", "a" * 64)])
    assert page.index("py3-none-any.whl") < page.index(".tar.gz")  # sorted
    assert f'href="../../packages/tabular_helpers-1.0.0-py3-none-any.whl#sha256={"a" * 64}"' in page


def test_page_cache_updates_one_project_and_writes_static_files(tmp_path: Path) -> None:
    cache = PageCache(tmp_path)
    cache.rebuild({"a_b-1.0-py3-none-any.whl": "1" * 64}, {"a_b-1.0-py3-none-any.whl": "a-b"})
    first = cache.get("A_B")
    assert first is not None and b"a_b-1.0-py3-none-any.whl" in first.body
    cache.add("a-b", "a_b-1.1-py3-none-any.whl", "2" * 64)
    second = cache.get("a-b")
    assert second is not None and second.etag != first.etag
    assert (tmp_path / "a-b" / "index.html").read_bytes() == second.body
    assert b'href="a-b/"' in (tmp_path / "index.html").read_bytes()


@pytest.mark.parametrize("name", [
    "../x-1.0-py3-none-any.whl", "a/b-1.0-py3-none-any.whl", "x\x07-1.0-py3-none-any.whl",
    ".hidden-1.0-py3-none-any.whl", "Caps-1.0-py3-none-any.whl", "x-1.0.zip", "x-notaversion-py3-none-any.whl",
])
def test_bad_file_names_are_refused(name: str) -> None:
    with pytest.raises(UploadRefused):
        check_filename(name)


def test_good_file_names_pass() -> None:
    assert check_filename("tabular_helpers-1.0.0-py3-none-any.whl")[0] == "tabular-helpers"
    assert str(check_filename("tabular_helpers-1.0.0.tar.gz")[1]) == "1.0.0"


def test_nginx_front_serves_pages_and_files_and_proxies_the_rest(tmp_path: Path) -> None:
    conf = render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st", app="127.0.0.1:8080"))
    assert "listen 127.0.0.1:9000" in conf
    assert f"root {(tmp_path / 'pk' / '.simple').resolve()};" in conf
    assert "try_files /$1/index.html @app;" in conf
    assert "location ~ ^/packages/([^/.][^/]*)$" in conf  # no hidden temp files served
    assert "proxy_pass http://127.0.0.1:8080;" in conf and "immutable" in conf
    static = render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st"))
    assert "proxy_pass" not in static and "try_files /$1 =404;" in static


def test_dependency_words_refuse_shell_syntax() -> None:
    assert dependency_words(("kfp==2.17.3", "numpy>=1.26")) == "kfp==2.17.3 numpy>=1.26"
    with pytest.raises(ConfigError):
        dependency_words(("numpy; rm -rf /",))


def test_wrk_summary_is_parsed() -> None:
    out = """Running 5s test @ http://127.0.0.1:1/simple/x/
  Latency Distribution
     50%    4.75ms
     75%    6.00ms
     90%    8.00ms
     99%   12.28ms
  45000 requests in 5.00s, 1.00GB read
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:   9146.20
"""
    load = parse_wrk(out)
    assert (load.rps, load.p50_ms, load.p99_ms, load.errors) == (9146.2, 4.75, 12.28, 3)


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
