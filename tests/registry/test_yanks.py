"""Yanking from the client side: the form the index takes, yank marks read from simple pages,
and what `pins check` and `who-pins` say of a yanked pin (against a real registry)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from packaging.version import Version

from helperhub.cli import cli
from helperhub.core.errors import ConfigError, OwnershipError
from helperhub.lock.lockfile import load_lock
from helperhub.pipelines.pins import check_pins
from helperhub.registry.client import IndexSettings, parse_simple_page, yank_form, yanked_versions
from helperhub.release.publish import publish
from helperhub.stack.embedded import add_user
from tests.conftest import ReleasedRepo, RunningIndex
from tests.indexclients import build_wheel

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


# -- against a real registry ----------------------------------------------------------------------


def _hub(*args: str, password: str = "s3cret") -> Result:
    return CliRunner().invoke(cli, list(args), env={"HUB_INDEX_PASSWORD": password}, catch_exceptions=False)


def test_a_yanked_pin_is_flagged_by_pins_check_and_who_pins(released_all: ReleasedRepo) -> None:
    """Yank the released tabular-helpers on the session's index, see both commands say so (pins
    still install it: a warning, not a failure), and put it back."""
    root, index = released_all.root, released_all.index.settings
    pin = load_lock(root / "pins.json").require("tabular-helpers", fix="-")
    login = ["--index-url", index.url, "--user", str(index.username)]
    compiled = root / "build" / "yank-compiled"  # what who-pins reads: a pipeline compiled against the lock
    made = _hub("compile", "--root", str(root), "--mode", "package", "--out", str(compiled))
    assert made.exit_code == 0, made.output
    done = _hub("yank", *login, "tabular-helpers", pin.version, "--reason", "drops rows with NaN labels")
    assert done.exit_code == 0, done.output
    assert f"tabular-helpers {pin.version} yanked" in done.output
    try:
        problems = check_pins(load_lock(root / "pins.json"))
        assert [(p.name, p.warning) for p in problems] == [("tabular-helpers", True)]
        assert "is yanked (drops rows with NaN labels)" in problems[0].message
        checked = _hub("pins", "check", "--root", str(root))
        assert checked.exit_code == 0, checked.output
        assert "is yanked" in checked.output
        used = _hub("who-pins", "--root", str(root))
        assert used.exit_code == 0, used.output
        marked = [line for line in used.output.splitlines() if "YANKED" in line]
        assert marked and all(line.startswith("tabular-helpers ") for line in marked), used.output
        assert "drops rows with NaN labels" in marked[0]
    finally:
        undone = _hub("unyank", *login, "tabular-helpers", pin.version)
        shutil.rmtree(compiled)
    assert undone.exit_code == 0 and "unyanked" in undone.output, undone.output
    assert check_pins(load_lock(root / "pins.json")) == []


def test_yank_refusals_are_one_line(released_all: ReleasedRepo) -> None:
    index = released_all.index.settings
    login = ["--index-url", index.url, "--user", str(index.username)]
    unknown = _hub("yank", *login, "tabular-helpers", "99.0.0")
    assert unknown.exit_code == 1 and "Error: the index refused to yank tabular-helpers 99.0.0 (404)" in unknown.output
    bad_login = _hub("yank", *login, "tabular-helpers", "99.0.0", password="wrong")
    assert bad_login.exit_code == 1 and "refused the login of ci" in bad_login.output
    no_login = CliRunner().invoke(cli, ["yank", "--index-url", index.url, "tabular-helpers", "1.0.0"], env={})
    assert no_login.exit_code == 1 and "the index login is needed to yank" in no_login.output


@pytest.mark.slow
def test_an_upload_into_another_users_project_stops_with_the_owners(fresh_index: RunningIndex, tmp_path: Path) -> None:
    """The release's upload step (twine) refused for ownership: one clear error naming the owner,
    no retry, nothing stored."""
    publish(fresh_index.settings, [build_wheel(tmp_path / "a", "owned-thing", "1.0.0").path])
    add_user(fresh_index.packages.parent / "htpasswd", "bob", "b0b-pass")
    bob = IndexSettings(fresh_index.settings.url, "bob", "b0b-pass")
    before = sorted(p.name for p in fresh_index.packages.iterdir())
    with pytest.raises(OwnershipError) as refused:
        publish(bob, [build_wheel(tmp_path / "b", "owned-thing", "1.0.1").path])
    message = str(refused.value)
    assert "refused the upload of bob" in message and "belongs to ci" in message, message
    assert "\n" not in message
    assert sorted(p.name for p in fresh_index.packages.iterdir()) == before
