"""`helpers list|show` mark a yanked version with its reason, read from the registry's simple pages
(against a real registry: yank, look, unyank)."""

from __future__ import annotations

from click.testing import CliRunner, Result

from helperhub.cli import cli
from helperhub.lock.lockfile import load_lock
from helperhub.pipelines.catalog import list_helpers, show_helper
from tests.conftest import ReleasedRepo

REASON = "drops rows with NaN labels"


def _hub(*args: str) -> Result:
    """The CLI, wide enough that a table row stays on one line."""
    env = {"HUB_INDEX_PASSWORD": "s3cret", "COLUMNS": "300"}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_list_and_show_mark_a_yanked_version_with_its_reason(released_all: ReleasedRepo) -> None:
    index = released_all.index.settings
    pin = load_lock(released_all.root / "pins.json").require("tabular-helpers", fix="-")
    login = ["--index-url", index.url, "--user", str(index.username)]
    done = _hub("yank", *login, "tabular-helpers", pin.version, "--reason", REASON)
    assert done.exit_code == 0, done.output
    try:
        row = next(r for r in list_helpers(index) if r.name == "tabular-helpers")
        assert {v.version: v.yanked for v in row.versions}[pin.version] == REASON
        vision = next(r for r in list_helpers(index) if r.name == "vision-helpers")
        assert all(v.yanked is None for v in vision.versions)
        detail = show_helper(index, "tabular-helpers")
        assert {v.version: v.yanked for v in detail.versions}[pin.version] == REASON
        listed = _hub("helpers", "list", "--index-url", index.url)
        assert listed.exit_code == 0, listed.output
        assert f"{pin.version} (yanked: {REASON})" in listed.output
        shown = _hub("helpers", "show", "--index-url", index.url, "--oci-registry", "", "tabular-helpers")
        assert shown.exit_code == 0, shown.output
        assert f"{pin.version} (yanked: {REASON})" in shown.output
    finally:
        undone = _hub("unyank", *login, "tabular-helpers", pin.version)
    assert undone.exit_code == 0, undone.output
    row = next(r for r in list_helpers(index) if r.name == "tabular-helpers")
    assert all(v.yanked is None for v in row.versions)
