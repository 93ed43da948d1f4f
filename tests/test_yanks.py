"""Yanking from the client side: the form the index takes, yank marks read from simple pages,
and what `pins check` and `who-pins` say of a yanked pin (against a real registry)."""

from __future__ import annotations

import pytest
from packaging.version import Version

from helperhub.core.errors import ConfigError
from helperhub.registry.client import parse_simple_page, yanked_versions
from helperhub.registry.yank import yank_form

PAGE = """<!DOCTYPE html><html><body>
<a href="../../packages/t-1.0.0-py3-none-any.whl#sha256=aa" data-yanked="broken import">t-1.0.0-py3-none-any.whl</a>
<a href="../../packages/t-1.0.0.tar.gz#sha256=bb" data-yanked="broken import">t-1.0.0.tar.gz</a>
<a href="../../packages/t-1.1.0-py3-none-any.whl#sha256=cc" data-yanked>t-1.1.0-py3-none-any.whl</a>
<a href="../../packages/t-1.2.0-py3-none-any.whl#sha256=dd" data-yanked="">t-1.2.0-py3-none-any.whl</a>
<a href="../../packages/t-1.2.0.tar.gz#sha256=ee">t-1.2.0.tar.gz</a>
<a href="../../packages/t-1.3.0-py3-none-any.whl#sha256=ff">t-1.3.0-py3-none-any.whl</a>
</body></html>"""


def test_yank_form_fields() -> None:
    assert yank_form("Tabular_Helpers", "1.2.0", "breaks on pandas 3") == {
        ":action": (None, "yank"), "name": (None, "tabular-helpers"), "version": (None, "1.2.0"),
        "reason": (None, "breaks on pandas 3"),
    }
    assert yank_form("t", "1.2.0", "ignored", undo=True) == {
        ":action": (None, "unyank"), "name": (None, "t"), "version": (None, "1.2.0"),
    }
    assert ":action" in yank_form("t", "1.0", None) and "reason" not in yank_form("t", "1.0", None)


def test_yank_form_refuses_a_non_version() -> None:
    with pytest.raises(ConfigError, match="is not a version"):
        yank_form("t", "latest", None)


def test_yank_marks_from_a_simple_page() -> None:
    files = parse_simple_page("http://i/simple/t/", PAGE)
    assert files["t-1.0.0-py3-none-any.whl"].yanked == "broken import"
    assert files["t-1.1.0-py3-none-any.whl"].yanked == ""  # yanked without a reason
    assert files["t-1.3.0-py3-none-any.whl"].yanked is None
    # a version is yanked when all its files are; 1.2.0 still has an unyanked sdist
    assert yanked_versions(files) == {Version("1.0.0"): "broken import", Version("1.1.0"): ""}
