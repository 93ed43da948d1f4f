"""The index client's pure pieces: simple pages read back and the URLs derived from the settings."""

from __future__ import annotations

from packaging.version import Version

from helperhub.registry.client import IndexSettings, newest_version, parse_simple_page


def test_simple_page_links_carry_sha256() -> None:
    html = ('<a href="../../packages/x_y-1.0.0-py3-none-any.whl#sha256=abc">x</a>'
            '<a href="../../packages/x_y-1.1.0.tar.gz#sha256=def">x</a>')
    files = parse_simple_page("http://h:1/simple/x-y/", html)
    assert files["x_y-1.0.0-py3-none-any.whl"].url == "http://h:1/packages/x_y-1.0.0-py3-none-any.whl"
    assert files["x_y-1.0.0-py3-none-any.whl"].sha256 == "abc"
    assert newest_version(files) == Version("1.1.0")


def test_index_settings_derive_urls() -> None:
    s = IndexSettings("http://127.0.0.1:8080/simple/")
    assert (s.base, s.simple_url, s.upload_url, s.trusted_hosts) == (
        "http://127.0.0.1:8080", "http://127.0.0.1:8080/simple/", "http://127.0.0.1:8080/", ["127.0.0.1"])
    assert IndexSettings("https://pypi.example.org").trusted_hosts == []

