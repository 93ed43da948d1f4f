"""A step's environment against the session's real index, OCI registry and engine: both helpers
released for py311 (amd64, arm64) and py313, one binary extra package with manylinux wheels for
x86_64 and aarch64 (orjson), and a module of the team's own, in a team folder that is not a git
checkout. Locked per target and platform, mirrored into the index, locked again (nothing moves),
refused on a conflict (nothing written, nothing uploaded); built into images without an engine
(again: nothing pushed; into two fresh registries: one digest; arm64: aarch64 code), and run by
KFP's own DockerRunner in image and package mode on each Python. (No ``from __future__ import
annotations``: KFP reads a component's annotations as types.)"""

import gzip
import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from helperhub.core import defaults
from helperhub.core.errors import ConfigError
from helperhub.core.progress import Silent
from helperhub.core.settings import repository_settings
from helperhub.images.facts import elf_machine
from helperhub.images.oci import IMAGE_TYPES, platform_manifests, split_repository
from helperhub.lock.closure import for_extras
from helperhub.lock.lockfile import ImagePin, Lock, load_lock, save_lock
from helperhub.pipelines.env_build import EnvBuildSettings, build_environments
from helperhub.pipelines.env_lock import EnvLockSettings, lock_environments
from helperhub.registry.client import index_helpers, project_files
from tests.conftest import RunningIndex, start_oci

pytestmark = [pytest.mark.slow, pytest.mark.docker]
AMD, ARM = "linux/amd64", "linux/arm64"
EXTRA = "orjson"
MODULE = "def doubled(x: int) -> int:\n    return 2 * x\n"


def _environment(packages: list[str]) -> str:
    listed = ", ".join(json.dumps(p) for p in packages)
    return ('[tool.helperhub.environments.scoring]\nhelpers = ["tabular-helpers[model]", "vision-helpers"]\n'
            f'packages = [{listed}]\nmodules = ["src/team_scoring"]\n')


@pytest.fixture(scope="module")
def team(released_targets: Path, targets_index: RunningIndex, oci: str,
         tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A team's folder: the released pins, an environment of both helpers, orjson and a module,
    locked, and its images built (in a folder of no git checkout)."""
    root = tmp_path_factory.mktemp("team")
    (root / "src" / "team_scoring").mkdir(parents=True)
    (root / "src" / "team_scoring" / "__init__.py").write_text(MODULE)
    released = load_lock(released_targets / "pins.json")
    save_lock(root / "pins.json", Lock(released.packages, released.platform_tools))
    (root / "pyproject.toml").write_text(_environment([f"{EXTRA}>=3.10,<4"]))
    lock_environments(EnvLockSettings(root, targets_index.settings), _specs(root), [], Silent())
    build_environments(EnvBuildSettings(root, oci, defaults.cache_dir()), [], Silent())
    return root


def _specs(root: Path) -> dict[str, object]:
    return dict(repository_settings(root)["environments"])


def test_an_environment_is_locked_per_target_and_platform(team: Path, targets_index: RunningIndex) -> None:
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
    served = project_files(targets_index.settings, EXTRA)
    assert {f.filename for files in env.targets.values() for fs in files.closure.values() for f in fs
            if f.name == EXTRA} <= set(served)  # mirrored into the private index
    helpers = index_helpers(targets_index.settings)
    assert helpers is not None and EXTRA not in helpers and "tabular-helpers" in helpers  # third-party there


def test_locking_again_changes_nothing_and_offline_resolves_the_same(team: Path, targets_index: RunningIndex) -> None:
    before = (team / "pins.json").read_bytes()
    (again,) = lock_environments(EnvLockSettings(team, targets_index.settings), _specs(team), ["scoring"], Silent())
    assert not again.resolved and (team / "pins.json").read_bytes() == before
    offline = EnvLockSettings(team, targets_index.settings, offline=True, upgrade=True)
    (fresh,) = lock_environments(offline, _specs(team), [], Silent())
    assert fresh.resolved and fresh.mirrored == () and (team / "pins.json").read_bytes() == before


def test_a_conflicting_extra_stops_in_one_line_and_changes_nothing(team: Path, targets_index: RunningIndex,
                                                                    tmp_path: Path) -> None:
    numpy = load_lock(team / "pins.json").require_environment("scoring").targets["py311"].closure[AMD]
    locked = next(f for f in numpy if f.name == "numpy")
    pins, served = (team / "pins.json").read_bytes(), set(project_files(targets_index.settings, "numpy"))
    conflicting = tmp_path / "conflicting"
    conflicting.mkdir()
    (conflicting / "pins.json").write_bytes(pins)
    (conflicting / "src").symlink_to(team / "src")
    (conflicting / "pyproject.toml").write_text(_environment([f"{EXTRA}>=3.10,<4", "numpy<2"]))
    with pytest.raises(ConfigError) as err:
        lock_environments(EnvLockSettings(conflicting, targets_index.settings), _specs(conflicting), [], Silent())
    message = str(err.value)
    assert "\n" not in message and "numpy<2 (asked by the environment)" in message
    assert f"numpy=={locked.version} (locked by tabular-helpers" in message
    assert (conflicting / "pins.json").read_bytes() == pins
    assert set(project_files(targets_index.settings, "numpy")) == served


def _fresh_registries(tmp_path: Path) -> Iterator[str]:
    tmp_path.mkdir()
    yield from start_oci(tmp_path)


def test_building_again_pushes_nothing_and_two_registries_get_one_digest(team: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # no engine is needed
    before = (team / "pins.json").read_bytes()
    built = build_environments(EnvBuildSettings(team, _registry(team), defaults.cache_dir()), [], Silent())
    assert [b.pushed for b in built] == [False, False] and (team / "pins.json").read_bytes() == before
    digests = []
    for n in range(2):  # two fresh registries, two copies of the team's folder: the same digests
        copy = shutil.copytree(team, tmp_path / f"team{n}", symlinks=True)
        registries = _fresh_registries(tmp_path / f"oci{n}")
        registry = next(registries)
        try:
            fresh = build_environments(EnvBuildSettings(copy, registry, defaults.cache_dir()), [], Silent())
        finally:
            next(registries, None)
        assert all(b.pushed for b in fresh)
        digests.append([b.image.ref.partition("@")[2] for b in fresh])
    assert digests[0] == digests[1]
    pinned = load_lock(team / "pins.json").require_environment("scoring")
    assert digests[0] == [t.image.ref.partition("@")[2] for t in pinned.targets.values() if t.image]


def _registry(team: Path) -> str:
    image = load_lock(team / "pins.json").require_environment("scoring").targets["py311"].image
    assert image is not None
    return image.registry


def test_the_arm64_image_holds_aarch64_code_of_the_extra_package(team: Path) -> None:
    image = load_lock(team / "pins.json").require_environment("scoring").targets["py311"].image
    assert image is not None and set(image.platforms) == {AMD, ARM}
    repository = image.ref.partition("@")[0]
    for platform, machine in ((ARM, "aarch64"), (AMD, "x86_64")):
        helper = platform_manifests(*image.base_image.split("@"))  # the helper image it was built on
        assert helper is not None
        found = _extension_machines(repository, image.platforms[platform], helper_repository(image),
                                    helper[1][platform])
        assert found and set(found.values()) == {machine}, found
        assert all("cpython-311" in name for name in found)


def helper_repository(image: ImagePin) -> str:
    return image.base_image.partition("@")[0]


def _layers(repository: str, manifest: str) -> list[dict[str, str]]:
    host, path = split_repository(repository)
    return list(requests.get(f"http://{host}/v2/{path}/manifests/{manifest}",
                             headers={"Accept": ", ".join(IMAGE_TYPES)}, timeout=30).json()["layers"])


def _extension_machines(repository: str, manifest: str, helper: str, helper_manifest: str) -> dict[str, str]:
    """The extra package's extension modules in the layers the environment added to its helper
    image -> the CPU their ELF header names."""
    host, path = split_repository(repository)
    base = f"http://{host}/v2/{path}"
    held = {layer["digest"] for layer in _layers(helper, helper_manifest)}
    found: dict[str, str] = {}
    for layer in [entry for entry in _layers(repository, manifest) if entry["digest"] not in held]:
        blob = requests.get(f"{base}/blobs/{layer['digest']}", timeout=120).content
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob)), mode="r:") as tar:
            for member in tar:
                if member.isfile() and f"/{EXTRA}/" in member.name and member.name.endswith(".so"):
                    handle = tar.extractfile(member)
                    assert handle is not None
                    found[member.name] = elf_machine(handle.read(20))
    return found


@pytest.mark.parametrize(("mode", "target"), [("image", "py311"), ("image", "py313"), ("package", "py311"),
                                              ("package", "py313")])
def test_kfps_docker_runner_runs_a_step_on_the_environment(
    team: Path, tmp_path: Path, mode: str, target: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """KFP's documented API (kfp.local.init with a DockerRunner) on a component of the environment."""
    from kfp import local

    from helperhub.pipelines import Delivery, helper_component

    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)  # a step installs from the private index alone
    delivery = Delivery.from_lock(team / "pins.json", mode=mode, target=target)

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

    if mode == "image":
        image = load_lock(team / "pins.json").require_environment("scoring").targets[target].image
        assert image is not None and uses_everything.component_spec.implementation.container.image == image.ref
    local.init(runner=local.DockerRunner(network_mode="host"), pipeline_root=str(tmp_path / "root"),
               raise_on_error=True)
    python = "3.11" if target == "py311" else "3.13"
    assert uses_everything().output == f"{python} x86_64 tabular_helpers vision_helpers [4]"
