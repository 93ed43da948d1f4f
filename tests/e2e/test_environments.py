"""A step's environment against the session's real index and engine: both helpers released for
py311 (amd64, arm64) and py313, one binary extra package with manylinux wheels for x86_64 and
aarch64 (orjson), and a module of the team's own, in a team folder that is not a git checkout.
Locked per target and platform, mirrored into the index, locked again (nothing moves), refused on
a conflict (nothing written, nothing uploaded), and run by KFP's own DockerRunner in package mode
on each Python. (No ``from __future__ import annotations``: KFP reads a component's annotations.)"""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from helperhub.core.errors import ConfigError
from helperhub.core.progress import Silent
from helperhub.core.settings import repository_settings
from helperhub.lock.closure import for_extras
from helperhub.lock.lockfile import Lock, load_lock, save_lock
from helperhub.pipelines.env_lock import EnvLockSettings, lock_environments
from helperhub.registry.client import project_files
from tests.conftest import RunningIndex

pytestmark = [pytest.mark.slow, pytest.mark.docker]
AMD, ARM = "linux/amd64", "linux/arm64"
EXTRA = "orjson"
MODULE = "def doubled(x: int) -> int:\n    return 2 * x\n"


def _environment(packages: list[str]) -> str:
    listed = ", ".join(json.dumps(p) for p in packages)
    return ('[tool.helperhub.environments.scoring]\nhelpers = ["tabular-helpers[model]", "vision-helpers"]\n'
            f'packages = [{listed}]\nmodules = ["src/team_scoring"]\n')


@pytest.fixture(scope="module")
def team(released_targets: Path, index: RunningIndex, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A team's folder: the released pins, an environment of both helpers, orjson and a module, locked."""
    root = tmp_path_factory.mktemp("team")
    (root / "src" / "team_scoring").mkdir(parents=True)
    (root / "src" / "team_scoring" / "__init__.py").write_text(MODULE)
    released = load_lock(released_targets / "pins.json")
    save_lock(root / "pins.json", Lock(released.packages, released.platform_tools))
    (root / "pyproject.toml").write_text(_environment([f"{EXTRA}>=3.10,<4"]))
    lock_environments(EnvLockSettings(root, index.settings), _specs(root), [], Silent())
    return root


def _specs(root: Path) -> dict[str, object]:
    return dict(repository_settings(root)["environments"])


def test_an_environment_is_locked_per_target_and_platform(team: Path, index: RunningIndex) -> None:
    lock = load_lock(team / "pins.json")
    env = lock.require_environment("scoring")
    assert list(env.targets) == ["py311", "py313"] and env.targets["py311"].platforms == (AMD, ARM)
    for target, locked in env.targets.items():
        for platform, files in locked.closure.items():
            by_name = {f.name: f for f in files}
            extra = by_name[EXTRA].filename  # a binary wheel of the target's Python and CPU
            assert f"-cp{locked.python.replace('.', '')}-" in extra
            assert ("aarch64" if platform == ARM else "x86_64") in extra
            for helper, extras in (("tabular-helpers", ("model",)), ("vision-helpers", ())):
                pin = lock.require(helper, fix="-")
                kept = {replace(f, extras=()) for f in for_extras(pin.require_target(target).files(platform), extras)}
                assert kept | {pin.wheel_file()} <= set(files)  # the helpers' closures, never moved
    assert [m.name for m in env.modules] == ["team-scoring"]
    served = project_files(index.settings, EXTRA)
    assert {f.filename for files in env.targets.values() for fs in files.closure.values() for f in fs
            if f.name == EXTRA} <= set(served)  # mirrored into the private index


def test_locking_again_changes_nothing_and_offline_resolves_the_same(team: Path, index: RunningIndex) -> None:
    before = (team / "pins.json").read_bytes()
    (again,) = lock_environments(EnvLockSettings(team, index.settings), _specs(team), ["scoring"], Silent())
    assert not again.resolved and (team / "pins.json").read_bytes() == before
    offline = EnvLockSettings(team, index.settings, offline=True, upgrade=True)
    (fresh,) = lock_environments(offline, _specs(team), [], Silent())
    assert fresh.resolved and fresh.mirrored == () and (team / "pins.json").read_bytes() == before


def test_a_conflicting_extra_stops_in_one_line_and_changes_nothing(team: Path, index: RunningIndex,
                                                                    tmp_path: Path) -> None:
    numpy = load_lock(team / "pins.json").require_environment("scoring").targets["py311"].closure[AMD]
    locked = next(f for f in numpy if f.name == "numpy")
    pins, served = (team / "pins.json").read_bytes(), set(project_files(index.settings, "numpy"))
    conflicting = tmp_path / "conflicting"
    conflicting.mkdir()
    (conflicting / "pins.json").write_bytes(pins)
    (conflicting / "src").symlink_to(team / "src")
    (conflicting / "pyproject.toml").write_text(_environment([f"{EXTRA}>=3.10,<4", "numpy<2"]))
    with pytest.raises(ConfigError) as err:
        lock_environments(EnvLockSettings(conflicting, index.settings), _specs(conflicting), [], Silent())
    message = str(err.value)
    assert "\n" not in message and "numpy<2 (asked by the environment)" in message
    assert f"numpy=={locked.version} (locked by tabular-helpers" in message
    assert (conflicting / "pins.json").read_bytes() == pins
    assert set(project_files(index.settings, "numpy")) == served


@pytest.mark.parametrize("target", ["py311", "py313"])
def test_kfps_docker_runner_runs_a_step_on_the_environment_in_package_mode(
    team: Path, tmp_path: Path, target: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KFP's documented API (kfp.local.init with a DockerRunner) on a component of the environment."""
    from kfp import local

    from helperhub.pipelines import Delivery, helper_component

    for key in [k for k in __import__("os").environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)  # the step installs from the private index alone
    delivery = Delivery.from_lock(team / "pins.json", mode="package", target=target)

    @helper_component(environment="scoring", delivery=delivery)
    def uses_everything() -> str:
        import platform
        import sys

        import orjson
        import tabular_helpers
        import vision_helpers
        from team_scoring import doubled

        names = f"{tabular_helpers.__name__} {vision_helpers.__name__} {orjson.dumps([doubled(2)]).decode()}"
        return f"{sys.version_info[0]}.{sys.version_info[1]} {platform.machine()} {names}"

    local.init(runner=local.DockerRunner(network_mode="host"), pipeline_root=str(tmp_path / "root"),
               raise_on_error=True)
    python = "3.11" if target == "py311" else "3.13"
    assert uses_everything().output == f"{python} x86_64 tabular_helpers vision_helpers [4]"
