"""Both helpers released for two targets as this repository declares them (py311 on amd64 and
arm64, py313 on amd64), then used as teams on those runtimes use them: the lock's closures per
target and platform, the py311 image as an index whose arm64 image holds aarch64 code (run under
emulation), and the example pipeline under kfp.local on each target. (No ``from __future__ import
annotations``: KFP reads a component's annotations as types.)"""

import gzip
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import requests

from helperhub.images.facts import elf_machine
from helperhub.images.oci import IMAGE_TYPES, INDEX_TYPES, platform_manifests, split_repository
from helperhub.lock.lockfile import Lock, load_lock
from helperhub.pipelines import Delivery
from helperhub.pipelines.local_run import run_local

pytestmark = [pytest.mark.slow, pytest.mark.docker]
AMD, ARM = "linux/amd64", "linux/arm64"


def _lock(root: Path) -> Lock:
    return load_lock(root / "pins.json")


def test_numpy_is_locked_per_target_and_platform(released_targets: Path) -> None:
    pin = _lock(released_targets).require("tabular-helpers", fix="-")
    assert list(pin.targets) == ["py311", "py313"] and pin.default_target == "py311"
    numpy = {(t, p): next(f.filename for f in files if f.name == "numpy")
             for t, target in pin.targets.items() for p, files in target.closure.items()}
    assert set(numpy) == {("py311", AMD), ("py311", ARM), ("py313", AMD)}
    assert "-cp311-" in numpy["py311", AMD] and "x86_64" in numpy["py311", AMD]
    assert "-cp311-" in numpy["py311", ARM] and "aarch64" in numpy["py311", ARM]
    assert "-cp313-" in numpy["py313", AMD] and "x86_64" in numpy["py313", AMD]
    py311, py313 = pin.targets["py311"], pin.targets["py313"]
    assert (py311.python, py313.python) == ("3.11", "3.13")  # read from the bases, never typed
    uv = _lock(released_targets).platform_tools["uv"]
    assert set(uv) == {AMD, ARM} and "aarch64" in uv[ARM].filename


def _layer_machines(repository: str, manifest: str) -> dict[str, str]:
    """Extension modules of numpy in the image's last layer -> the CPU their ELF header names."""
    host, path = split_repository(repository)
    base = f"http://{host}/v2/{path}"
    body = requests.get(f"{base}/manifests/{manifest}", headers={"Accept": ", ".join(IMAGE_TYPES)}, timeout=30).json()
    found: dict[str, str] = {}
    for layer in reversed(body["layers"]):
        blob = requests.get(f"{base}/blobs/{layer['digest']}", timeout=120).content
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob)), mode="r:") as tar:
            for member in tar:
                if member.isfile() and "/numpy/" in member.name and member.name.endswith(".so"):
                    handle = tar.extractfile(member)
                    assert handle is not None
                    found[member.name] = elf_machine(handle.read(20))
        if found:
            return found
    return found


def test_the_py311_image_is_an_index_whose_arm64_image_holds_aarch64_code(released_targets: Path) -> None:
    image = _lock(released_targets).require("tabular-helpers", fix="-").require_target("py311").image
    assert image is not None and set(image.platforms) == {AMD, ARM}
    repository, digest = image.ref.split("@")
    host, path = split_repository(repository)
    answer = requests.get(f"http://{host}/v2/{path}/manifests/{digest}", headers={"Accept": ", ".join(INDEX_TYPES)},
                          timeout=30)
    assert answer.headers["Content-Type"].split(";")[0] in INDEX_TYPES
    assert platform_manifests(repository, digest) == (digest, image.platforms)
    arm = _layer_machines(repository, image.platforms[ARM])
    assert arm and set(arm.values()) == {"aarch64"}, arm
    assert any("cpython-311-aarch64-linux-gnu" in name for name in arm)
    amd = _layer_machines(repository, image.platforms[AMD])
    assert amd and set(amd.values()) == {"x86_64"}


def test_the_arm64_image_runs_numpy_under_emulation(released_targets: Path, client: Any) -> None:
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        pytest.fail("arm64 emulation is not registered: run `scripts/engine.sh --emulation` (make test does)")
    image = _lock(released_targets).require("tabular-helpers", fix="-").require_target("py311").image
    assert image is not None
    arm = f"{image.ref.split('@')[0]}@{image.platforms[ARM]}"
    code = ("import platform, numpy, pandas, tabular_helpers; "
            "print(platform.machine(), numpy.add(1, 2), tabular_helpers.__name__)")
    out = client.containers.run(arm, ["python", "-c", code], network_mode="none", remove=True).decode()
    assert out.split() == ["aarch64", "3", "tabular_helpers"], out


@pytest.mark.parametrize(("mode", "target", "runner"), [
    ("image", "py311", "docker"), ("image", "py313", "docker"), ("package", "py313", "docker"),
])
def test_the_example_pipeline_gives_one_accuracy_on_every_target(
    released_targets: Path, tmp_path: Path, mode: str, target: str, runner: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)  # the steps install from the private index alone
    delivery = Delivery.from_lock(released_targets / "pins.json", mode=mode, target=target)
    result = run_local(delivery, runner, tmp_path / "runs")
    assert result.accuracy == pytest.approx(0.95)  # the same figure on every target (the data is seeded)
    outputs = [json.loads(p.read_text()) for p in (tmp_path / "runs").rglob("executor_output.json")]
    assert outputs, "kfp.local wrote no outputs"


def test_kfps_own_docker_runner_runs_a_py313_step(released_targets: Path, tmp_path: Path) -> None:
    """KFP's documented API, with no wrapper of this project: kfp.local.init(runner=DockerRunner())."""
    from kfp import local

    from helperhub.pipelines import helper_component

    delivery = Delivery.from_lock(released_targets / "pins.json", mode="image", target="py313")

    @helper_component(helpers=["tabular-helpers"], delivery=delivery)
    def runtime() -> str:
        import platform
        import sys

        import tabular_helpers

        return f"{sys.version_info[0]}.{sys.version_info[1]} {platform.machine()} {tabular_helpers.__name__}"

    local.init(runner=local.DockerRunner(), pipeline_root=str(tmp_path / "root"), raise_on_error=True)
    assert runtime().output == "3.13 x86_64 tabular_helpers"
