"""P5: how long `helperhub --help` takes, the floor every command starts from (what it imports:
kfp alone is most of a second, so the commands import it only where they use it)."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

from .setup import REPO

HELP_RUNS = 7  # each well under a second; the first one, not counted, warms the page cache


def _help_once() -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "helperhub", "--help"], cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"helperhub --help failed: {proc.stderr[-800:]}")
    return elapsed


def measure_help(log: Any = print) -> dict[str, float]:
    """Median wall time of `helperhub --help` in a fresh interpreter (the checkout's code)."""
    _help_once()
    runs = [_help_once() for _ in range(HELP_RUNS)]
    help_s = statistics.median(runs)
    log(f"P5 helperhub --help: {help_s:.3f} s (median of {HELP_RUNS}; min {min(runs):.3f}, max {max(runs):.3f})")
    return {"help_s": help_s}
