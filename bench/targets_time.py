"""P2b: a release of a new version for two targets (py311 and py313, amd64) against the same
release for py311 alone, warm caches: the wheel, its tests and the shared image layers are made
once, so a second target costs its closure's resolution and its own image."""

from __future__ import annotations

import statistics
import sys
from typing import Any

from .release_time import _bump, _timed, release_env
from .setup import Stack, commit_all, git


def targets_toml(bases: str, names: tuple[str, ...]) -> str:
    """``[tool.helperhub.targets]`` for ``names`` (py311, py313) on the bases of ``bases``."""
    return "".join(f'[tool.helperhub.targets.{n}]\nbase-image = "{bases}/python:{n[2]}.{n[3:]}-slim"\n'
                   'platforms = ["linux/amd64"]\n\n' for n in names)


def _declare(st: Stack, bases: str, names: tuple[str, ...]) -> None:
    (st.root / "pyproject.toml").write_text(targets_toml(bases, names))
    git(st.root, "add", "pyproject.toml")
    commit_all(st.root, f"targets {', '.join(names)}")


def measure_targets(st: Stack, repeats: int, log: Any = print) -> dict[str, float]:
    """Median release time of a new version for py311, then for py311+py313 (each after one
    release that warms its caches: closures fetched, the dependency layer of each target built)."""
    bases = st.base_image.rsplit("/", 1)[0]  # the engine's registry, which holds both bases
    env = release_env(st)
    cmd = [sys.executable, "-m", "helperhub", "release", "tabular-helpers", "--require-images", "--root", str(st.root)]
    version = [2, 0, 0]

    def next_release() -> float:
        version[2] += 1
        _bump(st, ".".join(map(str, version)))
        return _timed(cmd, env)

    figures: dict[str, float] = {}
    for key, names in (("single_target_release_s", ("py311",)), ("two_targets_release_s", ("py311", "py313"))):
        _declare(st, bases, names)
        warm = next_release()
        times = [next_release() for _ in range(repeats)]
        figures[key] = statistics.median(times)
        log(f"P2b release for {' + '.join(names)}: {figures[key]:.1f} s (warm-up {warm:.1f} s)")
    return figures
