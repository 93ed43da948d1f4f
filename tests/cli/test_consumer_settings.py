"""A team's own repository (no helpers/ folder) as a place to use helperhub: [tool.helperhub]
settings and their precedence, its profiles, Delivery.from_lock, pin commands without helpers/."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from helperhub.cli import cli, config
from helperhub.core import defaults
from helperhub.core.errors import ConfigError, LockError
from helperhub.core.settings import load_settings
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import ImagePin, Lock, PackagePin, load_lock, parse_lock, save_lock
from helperhub.pipelines import Delivery, Mode
from helperhub.pipelines.pin_bump import Bump
from helperhub.pipelines.profiles import load_profile
from helperhub.registry.client import IndexSettings

SHA = "a" * 64
DIGEST = "sha256:" + "b" * 64
ENV = ("HUB_ROOT", "HUB_OCI_REGISTRY", "HUB_INDEX_URL", "HUB_PROFILE", "BASE_IMAGE")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """`make engine` exports some of these; the tests set them where they mean to."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def git_repo(path: Path, pyproject: str | None = None) -> Path:
    """A committed git repository without helpers/, as a pipeline team's."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    if pyproject is not None:
        (path / "pyproject.toml").write_text(pyproject)
    (path / "README").write_text("pipelines\n")
    subprocess.run(["git", "-C", str(path), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(path), "-c", "user.email=t@t", "-c", "user.name=t",
                    "commit", "-q", "-m", "init"], check=True)
    return path


def fake_pin(name: str, depends: tuple[str, ...] = ()) -> PackagePin:
    wheel = f"{name.replace('-', '_')}-1.0.0-py3-none-any.whl"
    return PackagePin(
        name=name, version="1.0.0", wheel=wheel, sha256=SHA,
        url=f"http://127.0.0.1:8080/packages/{wheel}", index_url="http://127.0.0.1:8080/simple/",
        kfp_version="2.17.3", commit="c" * 40, released_at="2026-01-01T00:00:00Z",
        requires=("kfp==2.17.3",), depends=depends,
    ).with_closure((LockedFile("kfp", "2.17.3", "kfp-2.17.3-py3-none-any.whl", "1" * 64),)).with_image(
        ImagePin(f"127.0.0.1:5000/{name}@{DIGEST}", f"127.0.0.1:5000/{name}:1.0.0",
                 "127.0.0.1:5000/python@sha256:" + "d" * 64, "127.0.0.1:5000"))


CONSUMER = """\
[project]
name = "team-pipelines"

[tool.helperhub]
index-url = "http://pypi.team.example:8080"
oci-registry = "registry.team.example:5000"
profile = "staging"

[tool.helperhub.profiles.staging]
index_url = "http://pypi.staging.svc:8080/simple/"
image_registry = "registry.staging.svc:5000"
"""


@pytest.fixture
def consumer(tmp_path: Path) -> Path:
    repo = git_repo(tmp_path / "team", CONSUMER)
    save_lock(repo / defaults.LOCK_NAME, Lock({"tabular-helpers": fake_pin("tabular-helpers")}))
    return repo


# -- the settings reader ------------------------------------------------------------------


def test_load_settings_reads_the_table_with_parameter_names(consumer: Path) -> None:
    settings = load_settings(consumer)
    assert settings == {
        "index_url": "http://pypi.team.example:8080", "oci_registry": "registry.team.example:5000",
        "profile": "staging",
        "profiles": {"staging": {"index_url": "http://pypi.staging.svc:8080/simple/",
                                 "image_registry": "registry.staging.svc:5000"}},
    }
    assert load_settings(consumer / "nowhere") == {}  # no pyproject.toml: no settings


def test_unknown_key_is_one_line_naming_it_and_the_known_ones(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.helperhub]\noci_registry = "x:5000"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path)
    message = str(err.value)
    assert "'oci_registry'" in message and "oci-registry" in message and "index-url" in message
    assert "\n" not in message
    (tmp_path / "pyproject.toml").write_text('[tool.helperhub.profiles.staging]\nregistry = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'registry' in \[tool.helperhub.profiles.staging\].*"
                                          r"index_url, image_registry, base_image"):
        load_settings(tmp_path)


def test_malformed_toml_is_one_line_with_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.helperhub]\noci-registry = "x:5000"\nprofile = \n')
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path)
    message = str(err.value)
    assert str(tmp_path / "pyproject.toml") in message and "line 3" in message
    assert "\n" not in message


def test_cli_reports_a_broken_pyproject_as_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = git_repo(tmp_path / "team", '[tool.helperhub]\nregistry = "x"\n')
    monkeypatch.chdir(repo)
    result = CliRunner().invoke(cli, ["pins", "show"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: unknown key 'registry'") and result.output.count("\n") == 1


# -- default_map: flag > env > pyproject > default -----------------------------------------


def test_default_map_fills_every_parameter_named_like_a_setting() -> None:
    mapping = config.default_map(cli, {"oci_registry": "r:5000", "index_url": "http://i", "profiles": {}})
    assert mapping["pins"]["bump"] == {"oci_registry": "r:5000", "index_url": "http://i"}
    assert mapping["release"]["oci_registry"] == "r:5000"
    assert mapping["registry"]["image"] == {"oci_registry": "r:5000"}
    assert "show" not in mapping["pins"]  # no such parameter: nothing
    assert config.default_map(cli, {"profile": "staging"})["compile"] == {"profile": "staging"}
    assert config.default_map(cli, {}) == {}


def test_root_hint_reads_the_flag_then_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.root_hint(["pins", "show", "--root", "/a"]) == Path("/a")
    assert config.root_hint(["pins", "show", "--root=/b"]) == Path("/b")
    assert config.root_hint(["pins", "show"]) is None
    monkeypatch.setenv("HUB_ROOT", "/c")
    assert config.root_hint(["pins", "show"]) == Path("/c")
    assert config.root_hint(["pins", "show", "--root", "/a"]) == Path("/a")


@pytest.fixture
def bumps(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """`pins bump` with the registries replaced: records what the command resolved."""
    calls: list[dict[str, Any]] = []

    def fake_bump(lock_path: Path, name: str, version: str, index: IndexSettings, oci_registry: str | None,
                  helpers: set[str], kfp_version: str, targets: tuple[str, ...] = (),
                  verify: Any = None, relock: Any = None) -> Bump:
        calls.append({"index": index.base, "oci_registry": oci_registry, "helpers": helpers})
        return Bump(fake_pin(name), {})

    monkeypatch.setattr("helperhub.pipelines.pins.bump_pin", fake_bump)  # the command imports it when it runs
    yield calls


def bump(args: list[str], env: dict[str, str] | None = None) -> click.testing.Result:
    result = CliRunner().invoke(cli, ["pins", "bump", *args, "vision-helpers", "1.0.0"], env=env)
    assert result.exit_code == 0, result.output
    return result


def test_oci_registry_precedence_flag_env_pyproject_default(
    consumer: Path, tmp_path: Path, bumps: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(consumer)
    bump(["--oci-registry", "flag:5000"], {"HUB_OCI_REGISTRY": "env:5000"})
    bump([], {"HUB_OCI_REGISTRY": "env:5000"})
    bump([])
    assert [c["oci_registry"] for c in bumps] == ["flag:5000", "env:5000", "registry.team.example:5000"]
    assert {c["index"] for c in bumps} == {"http://pypi.team.example:8080"}  # pyproject's: no embedded registry
    # a repository that does not set it: the default of helperhub.core.defaults
    plain = git_repo(tmp_path / "plain", '[tool.helperhub]\nindex-url = "http://pypi.plain:8080"\n')
    monkeypatch.chdir(tmp_path)  # not a checkout: the repository comes from --root
    bump(["--root", str(plain)])
    assert bumps[-1]["oci_registry"] == defaults.OCI_REGISTRY
    assert bumps[-1]["index"] == "http://pypi.plain:8080"
    bump([], {"HUB_ROOT": str(consumer)})  # or from HUB_ROOT
    assert bumps[-1]["oci_registry"] == "registry.team.example:5000"


def test_outside_a_checkout_there_are_no_settings_until_a_command_needs_a_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(cli, ["pins", "--help"]).exit_code == 0
    result = CliRunner().invoke(cli, ["pins", "show"])
    assert result.exit_code == 0 and "helper" in result.output  # a plain folder: its (empty) lock
    (tmp_path / "pins.json").write_text("{}")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # the nearest folder up that holds the lock
    result = CliRunner().invoke(cli, ["pins", "show"])
    assert result.exit_code == 1 and f"{tmp_path / 'pins.json'} is not a format-4 lock" in result.output


def test_bump_in_a_repository_without_helpers_knows_the_pinned_helpers(
    consumer: Path, bumps: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(consumer)
    result = bump([])
    assert bumps[-1]["helpers"] == {"tabular-helpers"}  # vision's dependency on it is recorded
    assert "vision-helpers pinned to 1.0.0" in result.output


# -- profiles -------------------------------------------------------------------------------


def test_repository_profiles_add_to_the_packaged_ones(consumer: Path) -> None:
    settings = load_settings(consumer)
    staging = load_profile("staging", settings=settings)
    assert staging.index_url == "http://pypi.staging.svc:8080/simple/"
    assert staging.image_registry == "registry.staging.svc:5000" and staging.base_image is None
    assert load_profile("cluster", settings=settings).index_url == load_profile("cluster").index_url
    with pytest.raises(ConfigError, match=r"no profile 'moon' \(known: cluster, local, staging\)"):
        load_profile("moon", settings=settings)


def test_a_repository_profile_replaces_the_packaged_one_of_its_name() -> None:
    settings = {"profiles": {"cluster": {"index_url": "http://pypi.other:8080/simple/"}}}
    cluster = load_profile("cluster", settings=settings)
    assert cluster.index_url == "http://pypi.other:8080/simple/" and cluster.image_registry is None


def test_compile_finds_a_repository_profile(consumer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--profile staging` reaches the repository's profile (the pyproject default is staging
    too; the packaged cluster still exists)."""
    seen: list[str | None] = []

    def fake_compile(delivery: Delivery, out: Path) -> Path:
        seen.append(delivery.image_registry)
        return out / "p.yaml"

    monkeypatch.setattr("helperhub.pipelines.local_run.compile_pipeline", fake_compile)
    monkeypatch.chdir(consumer)
    for args in (["--profile", "staging"], [], ["--profile", "cluster"]):
        result = CliRunner().invoke(cli, ["compile", "--mode", "image", *args])
        assert result.exit_code == 0, result.output
    assert seen == ["registry.staging.svc:5000", "registry.staging.svc:5000", load_profile("cluster").image_registry]


# -- Delivery.from_lock ---------------------------------------------------------------------


def test_from_lock_image_mode_uses_the_repository_profile(consumer: Path) -> None:
    delivery = Delivery.from_lock(consumer / "pins.json", mode="image")
    assert delivery.mode is Mode.IMAGE and delivery.source_root is None
    assert set(delivery.lock.packages) == {"tabular-helpers"}
    assert delivery.index_url == "http://pypi.staging.svc:8080/simple/"  # the repository's default profile
    local = Delivery.from_lock(str(consumer / "pins.json"), Mode.PACKAGE, profile="local", pin_by="version")
    assert local.index_url is None and local.image_registry is None and local.pin_by == "version"


def test_from_lock_defaults_to_local_without_settings(tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "bare")
    save_lock(repo / "pins.json", Lock({"tabular-helpers": fake_pin("tabular-helpers")}))
    delivery = Delivery.from_lock(repo / "pins.json")
    assert delivery.mode is Mode.IMAGE and delivery.index_url is None and delivery.image_registry is None


def test_from_lock_working_tree_modes_need_source(consumer: Path) -> None:
    for mode in ("embedded", Mode.VOLUME, "configmap"):
        with pytest.raises(ConfigError, match="pass source=") as err:
            Delivery.from_lock(consumer / "pins.json", mode=mode)
        assert "\n" not in str(err.value)
    embedded = Delivery.from_lock(consumer / "pins.json", mode="embedded", source=consumer)
    assert embedded.source_root == consumer and embedded.mode is Mode.EMBEDDED


def test_from_lock_errors(consumer: Path) -> None:
    with pytest.raises(ConfigError, match="mode must be one of image, package"):
        Delivery.from_lock(consumer / "pins.json", mode="docker")
    with pytest.raises(LockError, match="no lock at"):
        Delivery.from_lock(consumer / "missing.json")


# -- pin commands without helpers/, the lock's format ---------------------------------------


def test_pins_show_in_a_repository_without_helpers(consumer: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(consumer)
    result = CliRunner().invoke(cli, ["pins", "show"])
    assert result.exit_code == 0, result.output
    assert "tabular-" in result.output and "1.0.0" in result.output  # a narrow terminal folds the name


def test_a_lock_of_a_newer_format_says_to_upgrade(tmp_path: Path) -> None:
    raw = json.dumps({"format": 5, "packages": {}})
    with pytest.raises(LockError) as err:
        parse_lock(raw, "pins.json")
    assert "written by a newer helperhub; upgrade helperhub (pip install -U helperhub)" in str(err.value)
    assert "\n" not in str(err.value)
    (tmp_path / "pins.json").write_text(raw)
    with pytest.raises(LockError, match="newer helperhub"):
        load_lock(tmp_path / "pins.json")
    with pytest.raises(LockError, match="not a format-4 lock"):
        parse_lock(json.dumps({"format": 0}), "pins.json")
    with pytest.raises(LockError, match="not a format-4 lock"):
        parse_lock(json.dumps({"format": True}), "pins.json")  # True == 1, but not a format
    with pytest.raises(LockError, match="no table of packages"):
        parse_lock(json.dumps({"format": 2, "tools": []}), "pins.json")
    for older in (1, 2):  # still read
        assert parse_lock(json.dumps({"format": older, "packages": {}}), "pins.json").packages == {}
