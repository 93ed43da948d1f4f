"""P1: how long the same small step takes to start and finish under kfp.local's DockerRunner,
per delivery mode (package mode with each installer), against a raw pip install of the same
closure."""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from helperhub.lock.lockfile import load_lock
from helperhub.pipelines.delivery import Delivery, Mode
from helperhub.pipelines.factory import helper_component
from helperhub.pipelines.local_run import docker_runner

from .setup import Stack
from .steps import small_step

CHEAP_RUNS = 3  # per repeat, for the variants that start in well under a second


def bare_image(st: Stack, kfp_version: str) -> str:
    """The Python base with only the kfp runtime: a KFP step that uses no helpers."""
    tag = f"{st.oci}/bare-kfp:{kfp_version}"
    dockerfile = (
        f"FROM {st.base_image}\n"
        "RUN python3 -m venv /opt/bare && PIP_CONFIG_FILE=/dev/null /opt/bare/bin/python -m pip --isolated "
        f"install --no-cache-dir --index-url {st.index.simple_url} --trusted-host {st.index.host} "
        f"kfp=={kfp_version}\nENV PATH=/opt/bare/bin:$PATH\n"
    )
    with tempfile.TemporaryDirectory() as ctx:
        Path(ctx, "Dockerfile").write_text(dockerfile)
        subprocess.run(["docker", "build", "-q", "--network", "host", "-t", tag, ctx], check=True,
                       capture_output=True)
    return tag


def _run_component(component: Any, root: Path, mode: Mode) -> float:
    from kfp import local

    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=docker_runner(mode), pipeline_root=str(root), raise_on_error=True)
    start = time.perf_counter()
    task = component(x=1)
    elapsed = time.perf_counter() - start
    if task.output != 2:
        raise RuntimeError(f"the step returned {task.output}, not 2")
    return elapsed


def raw_pip(st: Stack, requirements: list[str]) -> float:
    cmd = ["docker", "run", "--rm", "--network", "host", st.base_image, "python3", "-m", "pip", "--isolated",
           "install", "--quiet", "--no-warn-script-location", "--index-url", st.index.simple_url,
           "--trusted-host", st.index.host, *requirements]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def measure_step_start(st: Stack, work: Path, repeats: int, log: Any = print) -> dict[str, float]:
    import kfp
    from kfp import dsl

    lock = load_lock(st.root / "pins.json")
    pin = lock.require("tabular-helpers", fix="-")
    helpers = ["tabular-helpers[model]"]  # the example pipeline's closure: scikit-learn, pandas, numpy
    variants = {
        "bare": dsl.component(small_step, base_image=bare_image(st, kfp.__version__), install_kfp_package=False),
        "image": helper_component(small_step, helpers=helpers, delivery=Delivery(lock=lock, mode=Mode.IMAGE)),
        "package": helper_component(small_step, helpers=helpers,
                                    delivery=Delivery(lock=lock, mode=Mode.PACKAGE, base_image=st.base_image)),
        "package_pip": helper_component(small_step, helpers=helpers, delivery=Delivery(
            lock=lock, mode=Mode.PACKAGE, base_image=st.base_image, installer="pip")),
    }
    assert pin.image is not None
    subprocess.run(["docker", "pull", "-q", pin.image.ref], check=True, capture_output=True)
    results: dict[str, list[float]] = {name: [] for name in [*variants, "raw_pip"]}
    requirements = [f"tabular-helpers[model]=={pin.version}", f"kfp=={pin.kfp_version}"]
    for i in range(repeats):
        for name, component in variants.items():
            mode = Mode.IMAGE if name == "image" else Mode.PACKAGE
            results[name].append(_run_component(component, work / f"{name}-{i}", mode))
        results["raw_pip"].append(raw_pip(st, requirements))
        log(f"P1 run {i + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in results.items()))
    return {f"step_{name}_s": statistics.median(v) for name, v in results.items()}
