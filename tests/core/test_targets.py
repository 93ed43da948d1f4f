"""Targets declared once in [tool.helperhub.targets.<name>]: parsed in declaration order, each bad
table a one-line error; the default target without any; platforms and machines; facts and tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from helperhub.core import defaults
from helperhub.core.errors import ConfigError
from helperhub.core.settings import load_settings, parse_settings
from helperhub.core.targets import (
    MACHINES,
    TargetFacts,
    TargetSpec,
    checked_facts,
    default_facts,
    machine_of,
    platform_of,
)

TWO = """
[tool.helperhub]
base-image = "python:3.11-slim"

[tool.helperhub.targets.py313]
base-image = "python:3.13-slim"
platforms = ["linux/amd64"]

[tool.helperhub.targets.py311]
base-image = "python:3.11-slim"
platforms = ["linux/amd64", "linux/arm64"]
"""


def test_targets_are_read_from_pyproject_in_declaration_order(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(TWO)
    settings = load_settings(tmp_path)
    assert settings["targets"] == (
        TargetSpec("py313", "python:3.13-slim", ("linux/amd64",)),
        TargetSpec("py311", "python:3.11-slim", ("linux/amd64", "linux/arm64")),
    )
    assert settings["base_image"] == "python:3.11-slim"  # the other settings as before


def test_without_targets_the_one_default_target_is_todays_runtime(tmp_path: Path) -> None:
    from helperhub.images.targets import resolve_targets

    def no_engine() -> object:
        raise AssertionError("the default target needs no engine")

    (found,) = resolve_targets((), "127.0.0.1:9", no_engine, tmp_path, "own/python:3.11")
    assert found.spec == TargetSpec(defaults.TARGET_NAME, "own/python:3.11", (defaults.TARGET_PLATFORM,))
    assert found.facts == {defaults.TARGET_PLATFORM: default_facts()} and found.pinned_base == ""
    assert machine_of(defaults.TARGET_PLATFORM) == defaults.TARGET_MACHINE


def target(**keys: object) -> dict[str, object]:
    return {"targets": {"py311": {"base-image": "python:3.11-slim", "platforms": ["linux/amd64"], **keys}}}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"targets": "py311"}, "targets in pyproject.toml is not a table of targets; write [tool.helperhub.targets."),
        ({"targets": {}}, "is not a table of targets"),
        ({"targets": {"Py 3.11": {}}}, "target name 'Py 3.11' in pyproject.toml must match [a-z0-9][a-z0-9_-]*"),
        ({"targets": {"-x": {}}}, "target name '-x'"),
        ({"targets": {"py311": "python:3.11-slim"}}, "[tool.helperhub.targets.py311] in pyproject.toml is not a table"),
        (target(python="3.11"), "unknown key 'python' in [tool.helperhub.targets.py311] of pyproject.toml; "
                                "known keys: base-image, platforms"),
        ({"targets": {"py311": {"platforms": ["linux/amd64"]}}}, "has no base-image"),
        ({"targets": {"py311": {"base-image": "python:3.11-slim"}}}, "has no platforms"),
        (target(**{"base-image": " "}), "base-image in pyproject.toml must be a non-empty string"),
        (target(platforms=[]), "platforms in pyproject.toml must be a non-empty list of platforms, "
                               'e.g. ["linux/amd64", "linux/arm64"]'),
        (target(platforms="linux/amd64"), "must be a non-empty list of platforms"),
        (target(platforms=["linux/s390x"]), "platform 'linux/s390x' of [tool.helperhub.targets.py311] in "
                                            "pyproject.toml is not supported; use linux/amd64 or linux/arm64"),
        (target(platforms=["amd64"]), "use linux/amd64 or linux/arm64"),
        (target(platforms=["linux/arm64", "linux/arm64"]), "names a platform twice"),
    ],
)
def test_each_bad_target_is_a_one_line_error(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(table, "pyproject.toml")
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_an_unknown_key_names_targets_among_the_known() -> None:
    with pytest.raises(ConfigError, match=r"known keys: base-image, .*profile, profiles, targets"):
        parse_settings({"target": {}}, "pyproject.toml")


def test_platforms_and_machines_map_both_ways() -> None:
    assert [machine_of(p) for p in MACHINES] == ["x86_64", "aarch64"]
    assert [platform_of(m) for m in ("x86_64", "aarch64")] == ["linux/amd64", "linux/arm64"]
    with pytest.raises(ConfigError, match="platform 'linux/riscv64' is not supported; use one of linux/amd64"):
        machine_of("linux/riscv64")
    with pytest.raises(ConfigError, match="machine 'armv7l' has no supported platform; use one of x86_64, aarch64"):
        platform_of("armv7l")


def test_facts_give_the_wheel_tags_and_markers_of_their_platform() -> None:
    arm = TargetFacts("3.13", "cp", (2, 41), "aarch64")
    assert arm.platform_tags[:2] == ("manylinux_2_41_aarch64", "manylinux_2_40_aarch64")
    assert arm.platform_tags[-4:] == ("manylinux2014_aarch64", "manylinux2010_aarch64", "manylinux1_aarch64",
                                      "linux_aarch64")
    assert "manylinux_2_5_aarch64" in arm.platform_tags and "manylinux_2_4_aarch64" not in arm.platform_tags
    env = arm.marker_environment()
    assert (env["python_version"], env["platform_machine"], env["sys_platform"]) == ("3.13", "aarch64", "linux")
    assert default_facts() == TargetFacts(defaults.TARGET_PYTHON, defaults.TARGET_IMPLEMENTATION,
                                          defaults.TARGET_GLIBC, defaults.TARGET_MACHINE)
    assert default_facts().platform_tags[0] == "manylinux_2_36_x86_64"


def test_facts_read_for_a_platform_must_be_of_its_cpu() -> None:
    spec = TargetSpec("py311", "python:3.11-slim", ("linux/amd64", "linux/arm64"))
    arm = TargetFacts("3.11", "cp", (2, 36), "aarch64")
    assert checked_facts(spec, "linux/arm64", arm) is arm
    with pytest.raises(ConfigError) as err:
        checked_facts(spec, "linux/amd64", arm)
    assert str(err.value).startswith("python:3.11-slim for linux/amd64 (target py311) runs aarch64 binaries, "
                                     "not x86_64")
    with pytest.raises(ConfigError, match="target py313 has no platform linux/arm64; it declares linux/amd64"):
        checked_facts(TargetSpec("py313", "python:3.13-slim", ("linux/amd64",)), "linux/arm64", arm)
