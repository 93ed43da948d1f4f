"""Compile the example pipeline and run it with kfp.local (subprocess venvs or Docker)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helperhub.core import defaults
from helperhub.core.errors import ConfigError, HubError
from helperhub.pipelines.delivery import Delivery, Mode
from helperhub.pipelines.example import PIPELINE_NAME, build_pipeline

RUNNERS = ("subprocess", "docker")


def compiled_path(out_dir: Path, mode: Mode, target: str | None = None) -> Path:
    """``helper-example-<mode>.yaml``; a chosen target other than ``default`` adds ``-<target>``,
    so that the compiles of several targets stand side by side."""
    suffix = f"-{target}" if target and target != defaults.TARGET_NAME else ""
    return out_dir / f"{PIPELINE_NAME}-{mode}{suffix}.yaml"


def compile_pipeline(delivery: Delivery, out_dir: Path) -> Path:
    """Compile deterministically: the same lock and sources give the same YAML bytes."""
    from kfp import compiler

    out_dir.mkdir(parents=True, exist_ok=True)
    path = compiled_path(out_dir, delivery.mode, delivery.target)
    tmp = path.with_name(f".{path.stem}.tmp.yaml")
    compiler.Compiler().compile(build_pipeline(delivery), str(tmp))
    tmp.replace(path)
    return path


@dataclass(frozen=True)
class RunResult:
    accuracy: float
    metrics: dict[str, float]
    quality: dict[str, float]


def _read_metrics(root: Path, task: str, artifact: str) -> dict[str, float]:
    """The metrics a task logged, from the executor output of the newest run under ``root``."""
    outputs = sorted(root.glob(f"{PIPELINE_NAME}-*/{task}/executor_output.json"), key=lambda p: p.stat().st_mtime)
    if not outputs:
        return {}
    data = json.loads(outputs[-1].read_text())
    found = data.get("artifacts", {}).get(artifact, {}).get("artifacts", [{}])[0].get("metadata", {})
    return {k: float(v) for k, v in found.items() if isinstance(v, int | float)}


def docker_runner(mode: Mode) -> Any:
    """kfp.local's DockerRunner (host network) for ``mode``.

    Helper images run as root, as their base image, so KFP's own ``DockerRunner()`` works for
    image mode as is. This one runs image-mode steps as the caller's uid:gid all the same
    (``--user``): a non-root caller's outputs are theirs to read and delete, not root's, and an
    image built for a cluster that enforces non-root (``image-user``) writes the caller's folder
    too. Helper images work for any uid (their files are root-owned and read-only to others).
    Other modes install at step start and run as their base image's user, as before."""
    from kfp import local

    if mode is not Mode.IMAGE:
        return local.DockerRunner(network_mode="host")
    return local.DockerRunner(network_mode="host", user=f"{os.getuid()}:{os.getgid()}")


def run_locally(pipeline: Any, delivery: Delivery, pipeline_root: Path, runner: str = "docker",
                **params: Any) -> Any:
    """Run a pipeline whose components use ``delivery`` once with kfp.local; its output.

    The docker runner runs each step in its container as a pod would (image mode: the helper
    image, as the caller's uid:gid); the subprocess runner in a fresh virtual env of this host."""
    from kfp import local

    if runner not in RUNNERS:
        raise ConfigError(f"runner must be one of {', '.join(RUNNERS)}, not {runner!r}")
    if runner == "subprocess" and delivery.mode is Mode.IMAGE:
        raise ConfigError("image mode runs in its image: use the docker runner")
    if delivery.mode in (Mode.VOLUME, Mode.CONFIGMAP):
        raise ConfigError(f"{delivery.mode} mode needs a Kubernetes cluster; run it there")
    pipeline_root.mkdir(parents=True, exist_ok=True)
    chosen = docker_runner(delivery.mode) if runner == "docker" else local.SubprocessRunner(use_venv=True)
    local.init(runner=chosen, pipeline_root=str(pipeline_root), raise_on_error=True)
    try:
        return pipeline(**params).output
    except RuntimeError as exc:
        raise HubError(f"the pipeline failed in {delivery.mode} mode: {exc}") from None


def run_local(delivery: Delivery, runner: str, pipeline_root: Path, **params: Any) -> RunResult:
    """Run the example pipeline to completion with kfp.local and return its figures."""
    output = run_locally(build_pipeline(delivery), delivery, pipeline_root, runner, **params)
    return RunResult(
        accuracy=float(output),
        metrics=_read_metrics(pipeline_root, "evaluate", "metrics"),
        quality=_read_metrics(pipeline_root, "preprocess", "quality"),
    )
