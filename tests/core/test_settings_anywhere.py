"""One `repository_settings` for the CLI and `Delivery.from_lock`: the nearest pyproject.toml with
a [tool.helperhub] table, walking up from where they start, inside a git checkout (up to its
root) and outside one (a plain folder, an unpacked source tree)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from helperhub.cli import cli
from helperhub.core.errors import ConfigError, GitError
from helperhub.core.git import repo_root
from helperhub.core.settings import repository_settings
from helperhub.lock.lockfile import Lock, save_lock
from helperhub.pipelines import Delivery, Mode
from tests.cli.test_consumer_settings import ENV, fake_pin

TEAM = """\
[project]
name = "team-pipelines"

[tool.helperhub]
index-url = "http://127.0.0.1:{port}"
oci-registry = "registry.team.example:5000"
profile = "team"

[tool.helperhub.profiles.team]
index_url = "http://pypi.team.svc:8080/simple/"
image_registry = "registry.team.svc:5000"
"""


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    """A folder that is not a git checkout: settings at its top, a lock and a deeper folder below."""
    top = tmp_path / "team"
    (top / "pipelines" / "deeper").mkdir(parents=True)
    (top / "pyproject.toml").write_text(TEAM.format(port=closed_port()))
    save_lock(top / "pipelines" / "pins.json", Lock({"tabular-helpers": fake_pin("tabular-helpers")}))
    with pytest.raises(GitError):
        repo_root(top / "pipelines" / "deeper")
    return top


def test_the_nearest_table_is_read_walking_up_outside_a_checkout(plain: Path) -> None:
    settings = repository_settings(plain / "pipelines" / "deeper")
    assert settings["oci_registry"] == "registry.team.example:5000" and settings["profile"] == "team"
    # a pyproject.toml without the table (a package's own) does not hide the one above it
    (plain / "pipelines" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert repository_settings(plain / "pipelines" / "deeper")["profile"] == "team"
    # a nearer table wins, as it is the nearer repository's
    (plain / "pipelines" / "pyproject.toml").write_text('[tool.helperhub]\nprofile = "local"\n')
    assert repository_settings(plain / "pipelines" / "deeper") == {"profile": "local"}
    # a broken one on the way is one line naming it, never skipped
    (plain / "pipelines" / "pyproject.toml").write_text("[tool.helperhub\n")
    with pytest.raises(ConfigError, match=r"pipelines/pyproject\.toml is not valid TOML"):
        repository_settings(plain / "pipelines" / "deeper")


def test_inside_a_checkout_the_walk_stops_at_its_root(plain: Path) -> None:
    inner = plain / "pipelines" / "deeper"
    subprocess.run(["git", "init", "-q", str(inner)], check=True)
    assert repository_settings(inner) == {}  # the folder above the checkout is another repository
    (inner / "pyproject.toml").write_text('[tool.helperhub]\noci-registry = "own:5000"\n')
    (inner / "src").mkdir()
    assert repository_settings(inner / "src") == {"oci_registry": "own:5000"}


def test_cli_and_from_lock_use_the_settings_outside_a_checkout(
    plain: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI takes index-url and oci-registry from the pyproject.toml above it, as from_lock
    takes its profile: the same file for both."""
    monkeypatch.chdir(plain / "pipelines" / "deeper")
    settings = repository_settings(Path.cwd())
    result = CliRunner().invoke(cli, ["helpers", "show", "tabular-helpers"])
    assert result.exit_code == 1
    # the index of the pyproject.toml, asked (nothing listens there): no "not inside a checkout"
    assert f"cannot reach the package index at {settings['index_url']}" in result.output, result.output
    # and oci-registry, as the default `helpers show` pulls image digests from
    helped = CliRunner().invoke(cli, ["helpers", "show", "--help"])
    assert helped.exit_code == 0
    assert "[default: registry.team.example:5000]" in " ".join(helped.output.split()), helped.output
    delivery = Delivery.from_lock(plain / "pipelines" / "pins.json", mode=Mode.IMAGE)
    assert delivery.image_registry == "registry.team.svc:5000"  # the team profile of the same file
    assert delivery.index_url == "http://pypi.team.svc:8080/simple/"
