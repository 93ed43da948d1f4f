"""Environments as declared (pyproject.toml) and as locked (pins.json): pure parsing and I/O."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helperhub.core.envspec import EnvironmentSpec, parse_environments
from helperhub.core.errors import ConfigError, LockError
from helperhub.lock.closure import LockedFile
from helperhub.lock.environments import EnvironmentPin, HelperUse, ModulePin
from helperhub.lock.lockfile import Lock, PackagePin, dump_lock, parse_lock
from helperhub.lock.target_pins import TargetPin
from helperhub.pipelines.env_lock import conflict_causes, stale_environments
from helperhub.pipelines.env_step import environment_helpers

SHA = "a" * 64


def test_a_declared_environment_is_normalised() -> None:
    (spec,) = parse_environments({"scoring": {
        "helpers": ["Tabular_Helpers[plots,model]", "vision-helpers"], "packages": ["LightGBM >=4.3,<5"],
        "modules": ["src/team_scoring/"], "targets": ["py311", "py311"],
    }}, "pyproject.toml").values()
    assert spec == EnvironmentSpec("scoring", ("tabular-helpers[model,plots]", "vision-helpers"),
                                   ("LightGBM<5,>=4.3",), ("src/team_scoring",), ("py311",))
    assert spec.helper_names == ("tabular-helpers", "vision-helpers")


@pytest.mark.parametrize(("table", "says"), [
    ({"helpers": []}, "names no helper"),
    ({"helpers": ["tabular-helpers==1.0"]}, "names a version; the version comes from pins.json"),
    ({"helpers": ["x", "X"]}, "names a helper twice"),
    ({"helpers": ["x"], "packages": ["lib @ https://example.org/lib.whl"]}, "is a URL"),
    ({"helpers": ["x"], "packages": ["not a requirement!"]}, "is not a PEP 508 requirement"),
    ({"helpers": ["x"], "modules": ["../elsewhere"]}, "must be a folder inside the repository"),
    ({"helpers": ["x"], "targets": ["Py 3.11"]}, "is not a target name"),
    ({"helpers": ["x"], "image": "y"}, "unknown key 'image'"),
    ({"helpers": "x"}, "must be a list of non-empty strings"),
])
def test_a_wrong_declaration_is_one_line(table: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says) as err:
        parse_environments({"scoring": table}, "pyproject.toml")
    assert "\n" not in str(err.value) and "[tool.helperhub.environments.scoring]" in str(err.value)


def _env() -> EnvironmentPin:
    files = (LockedFile("orjson", "3.11.0", "orjson-3.11.0-cp311-cp311-manylinux_2_17_x86_64.whl", SHA),)
    return EnvironmentPin("scoring", (HelperUse("tabular-helpers", "1.0.0", SHA, ("model",)),), ("orjson<4",),
                          (ModulePin("src/team_scoring", "team-scoring", SHA),), "http://hub:8080/simple/", SHA,
                          {"py311": TargetPin("3.11", "cp", (2, 36), closure={"linux/amd64": files})})


def test_a_lock_with_environments_is_format_4_and_reads_back_the_same() -> None:
    plain = dump_lock(Lock())
    assert json.loads(plain)["format"] == 3  # no environment: what an older helperhub reads
    text = dump_lock(Lock().with_environment(_env()))
    assert json.loads(text)["format"] == 4
    assert parse_lock(text, "pins.json").require_environment("scoring") == _env()
    assert dump_lock(parse_lock(text, "pins.json")) == text
    assert _env().packages_url() == "http://hub:8080/packages/-"
    with pytest.raises(LockError, match=r"no environment 'other' in pins\.json; declare it"):
        Lock().require_environment("other")
    broken = json.loads(text)
    del broken["environments"]["scoring"]["inputs"]
    with pytest.raises(LockError, match="environment 'scoring' is not"):
        parse_lock(json.dumps(broken), "pins.json")


def test_pips_conflict_lines_name_the_helper_that_locks_each_side() -> None:
    output = (
        "ERROR: Cannot install numpy<2 because these package versions have conflicting dependencies.\n\n"
        "The conflict is caused by:\n"
        "    The user requested numpy<2\n"
        "    The user requested (constraint) numpy==2.4.6\n"
        "    lightgbm 4.3.0 depends on numpy<2\n\n"
        "To fix this you could try to:\n"
    )
    assert conflict_causes(output, {"numpy": "tabular-helpers 1.0.0"}) == [
        "numpy<2 (asked by the environment)", "numpy==2.4.6 (locked by tabular-helpers 1.0.0)",
        "lightgbm 4.3.0 depends on numpy<2"]
    assert conflict_causes("ERROR: No matching distribution found for nothing", {}) == []


def _helper(version: str, sha: str = SHA) -> PackagePin:
    return PackagePin("tabular-helpers", version, f"tabular_helpers-{version}-py3-none-any.whl", sha,
                      f"http://hub:8080/packages/tabular_helpers-{version}-py3-none-any.whl", "http://hub:8080/simple/",
                      "2.17.3", "", "2026-01-01T00:00:00Z")


def test_an_environment_is_stale_once_a_helper_it_uses_moves() -> None:
    lock = Lock({"tabular-helpers": _helper("1.0.0")}).with_environment(_env())
    assert stale_environments(lock) == []
    assert environment_helpers(_env(), lock) == ["tabular-helpers[model]"]
    for moved in (_helper("1.1.0"), _helper("1.0.0", "b" * 64)):  # another version, or other bytes of it
        bumped = lock.with_pin(moved)
        assert stale_environments(bumped) == ["scoring"]
        with pytest.raises(LockError, match=r"locked with tabular-helpers 1\.0\.0, .* `helperhub env lock scoring`"):
            environment_helpers(_env(), bumped)


def test_a_module_is_a_package_folder_or_a_project_whose_dependencies_join_the_packages(tmp_path: Path) -> None:
    from helperhub.pipelines.env_modules import module_pin, module_requirements

    (tmp_path / "src" / "team_scoring").mkdir(parents=True)
    (tmp_path / "src" / "team_scoring" / "__init__.py").write_text("X = 1\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "pyproject.toml").write_text('[project]\nname = "Team_Lib"\ndependencies = ["orjson>=3"]\n')
    package = module_pin(tmp_path, "src/team_scoring")
    assert (package.name, module_requirements(tmp_path, "src/team_scoring")) == ("team-scoring", [])
    assert module_pin(tmp_path, "lib").name == "team-lib" and module_requirements(tmp_path, "lib") == ["orjson>=3"]
    (tmp_path / "src" / "team_scoring" / "__pycache__").mkdir()
    (tmp_path / "src" / "team_scoring" / "__pycache__" / "x.pyc").write_bytes(b"junk")
    assert module_pin(tmp_path, "src/team_scoring") == package  # caches are not source
    (tmp_path / "src" / "team_scoring" / "__init__.py").write_text("X = 2\n")
    assert module_pin(tmp_path, "src/team_scoring").source_sha256 != package.source_sha256
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match="neither a package folder"):
        module_pin(tmp_path, "plain")
    (tmp_path / "lib" / "pyproject.toml").write_text('[project]\nname = "x"\ndynamic = ["dependencies"]\n')
    with pytest.raises(ConfigError, match="declares its dependencies as dynamic"):
        module_requirements(tmp_path, "lib")
