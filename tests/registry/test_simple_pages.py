"""Pure pieces of the registry's read path and upload validation: simple pages, the page cache, file names."""

from __future__ import annotations

from pathlib import Path

import pytest

from helperhub.registry.server.simple.cache import PageCache
from helperhub.registry.server.simple.pages import render_project
from helperhub.registry.server.validate import UploadRefused, check_filename


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


