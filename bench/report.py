"""The benchmark table, docs/benchmarks.json and the chart, from the measured figures."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from helperhub.core.fs import atomic_write_text

from .reads import ReadRow
from .registry_start import REGISTRY, StartRow, seconds, start_keys

# key: (label, goal, "max" if the figure must stay at or below the goal else "min")
GOALS: dict[str, tuple[str, float, str]] = {
    "image_vs_bare_ratio": ("P1 step start: image pin / bare base", 1.1, "max"),
    "package_vs_pip_ratio": ("P1 step start: package pin (uv) / raw pip install", 0.25, "max"),
    "package_pip_vs_pip_ratio": ("P1 step start: package pin (installer=pip) / raw pip install", 1.2, "max"),
    "release_vs_bare_ratio": ("P2 release / bare pytest+build+twine+docker build+push", 1.3, "max"),
    "noop_release_s": ("P2 unchanged re-release (s)", 1.0, "max"),
    "targets_release_ratio": ("P2b release for py311+py313 / for py311 alone (warm)", 1.5, "max"),
    "registry_vs_stock_ratio": ("P3 registry / stock pypiserver (req/s)", 10.0, "min"),
    "registry_vs_nginx_ratio": ("P3 registry / nginx static (req/s)", 0.5, "min"),
    "registry_html_vs_nginx_ratio": ("P3 registry HTML page / nginx static (req/s)", 0.8, "min"),
    "registry_json_vs_nginx_ratio": ("P3 registry JSON page (PEP 691) / nginx static (req/s)", 0.8, "min"),
    "registry_p99_ms": ("P3 registry p99 (ms)", 50.0, "max"),
    "image_overhead_ratio": ("P4 image over base / installed closure", 1.05, "max"),
    "env_noop_build_s": ("P6 unchanged environment build (s)", 1.0, "max"),
    "env_add_vs_bare_ratio": ("P6 adding a package: env build / bare uv install + push of its layer", 1.3, "max"),
    "env_pushed_vs_own_ratio": ("P6 adding a package: bytes pushed / its own layer", 1.05, "max"),
    "help_s": ("P5 helperhub --help (s)", 0.3, "max"),
    "registry_first_start_vs_stock_ratio": ("P5 registry first start, first answer / stock pypiserver", 1.0, "max"),
    "registry_restart_vs_stock_ratio": ("P5 registry restart, first answer / stock pypiserver", 1.0, "max"),
    "registry_catch_up_reported": ("P5 registry reports its catch-up on /health (1: yes)", 1.0, "min"),
}


STOCK_FLOOR_RPS = 0.2  # when stock completes no request in a run, count it as one per 5 s (flattering it)


def ratios(
    step: dict[str, float] | None = None, rel: dict[str, float] | None = None, reads: list[ReadRow] | None = None,
    size: dict[str, float] | None = None, start: dict[str, float] | None = None,
    boot: list[StartRow] | None = None, envs: dict[str, float] | None = None,
) -> dict[str, float]:
    """The keys GOALS holds, of the parts measured (a part not measured is None)."""
    keys: dict[str, float] = {}
    if step is not None:
        keys |= {
            "image_vs_bare_ratio": step["step_image_s"] / step["step_bare_s"],
            "package_vs_pip_ratio": step["step_package_s"] / step["step_raw_pip_s"],
            "package_pip_vs_pip_ratio": step["step_package_pip_s"] / step["step_raw_pip_s"],
        }
    if rel is not None:
        keys |= {
            "release_vs_bare_ratio": rel["release_s"] / rel["bare_total_s"],
            "noop_release_s": rel["noop_release_s"],
            "targets_release_ratio": rel["two_targets_release_s"] / rel["single_target_release_s"],
        }
    if reads is not None:
        keys |= read_ratios(reads)
    if size is not None:
        keys["image_overhead_ratio"] = size["image_added_mb"] / size["closure_mb"]
    if start is not None:
        keys["help_s"] = start["help_s"]
    if boot is not None:
        keys |= start_keys(boot)
    if envs is not None:
        keys |= {
            "env_noop_build_s": envs["env_noop_build_s"],
            "env_add_vs_bare_ratio": envs["env_add_build_s"] / envs["env_add_bare_s"],
            "env_pushed_vs_own_ratio": envs["env_pushed_bytes"] / envs["env_own_layer_bytes"],
        }
    return keys


def read_ratios(reads: list[ReadRow]) -> dict[str, float]:
    by = {(r.server, r.target): r for r in reads}
    front, stock, static = "helperhub registry + nginx front", "stock pypiserver", "nginx static"
    targets = ("page", "json page", "download")
    failed = [f"{r.server} {r.target}" for r in reads if r.errors and r.server != stock]
    if failed:  # a figure made of errors measures nothing
        raise RuntimeError(f"load runs had errors or non-2xx answers: {', '.join(failed)}")
    stock_page = max(by[(stock, "page")].rps, STOCK_FLOOR_RPS)
    return {
        "registry_vs_stock_ratio": by[(front, "page")].rps / stock_page,
        "registry_vs_nginx_ratio": min(by[(front, t)].rps / by[(static, t)].rps for t in targets),
        "registry_html_vs_nginx_ratio": by[(front, "page")].rps / by[(static, "page")].rps,
        "registry_json_vs_nginx_ratio": by[(front, "json page")].rps / by[(static, "json page")].rps,
        "registry_p99_ms": max(by[(front, t)].p99_ms for t in targets),
    }


def met(key: str, value: float) -> bool:
    _, goal, kind = GOALS[key]
    return value <= goal if kind == "max" else value >= goal


def table(keys: dict[str, float], measured_only: bool = False) -> list[tuple[str, str, str, str]]:
    """The goals' rows (with ``measured_only``, only those of the parts measured)."""
    rows = []
    for key, (label, goal, kind) in GOALS.items():
        if measured_only and key not in keys:
            continue
        value = keys.get(key, math.nan)
        rows.append((label, f"{value:.3g}", f"{'≤' if kind == 'max' else '≥'} {goal:g}",
                     "met" if met(key, value) else "MISSED"))
    return rows


def start_table(boot: list[StartRow]) -> list[str]:
    """P5's registry starts, one row per shape, server and start."""
    lines = ["| shape | files | server | start | first answer | caught up | RSS MB |", "|---|---|---|---|---|---|---|"]
    for r in boot:
        caught = seconds(r.caught_up_s) if r.server == REGISTRY else "—"
        lines.append(f"| {r.shape} | {r.files:,} | {r.server} | {r.start} | {seconds(r.first_answer_s)} | {caught} "
                     f"| {r.rss_mb:.0f} |")
    return lines


def write_docs(out: Path, keys: dict[str, float], figures: dict[str, Any], reads: list[ReadRow],
               boot: list[StartRow]) -> None:
    data = {**{k: round(v, 4) for k, v in keys.items()}, "figures": figures,
            "reads": [asdict(r) for r in reads], "registry_start": [asdict(r) for r in boot]}
    atomic_write_text(out / "benchmarks.json", json.dumps(data, indent=2, sort_keys=True) + "\n")
    lines = ["| measure | value | goal | |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in table(keys)]
    lines += ["", "| server | target | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|"]
    lines += [f"| {r.server} | {r.target} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |"
              for r in reads]
    lines += ["", *start_table(boot)]
    atomic_write_text(out / "benchmarks.md", "\n".join(lines) + "\n")
    chart(out / "benchmarks.png", keys, figures)


def chart(path: Path, keys: dict[str, float], figures: dict[str, Any]) -> None:
    from matplotlib.figure import Figure

    columns = 3
    rows = math.ceil(len(GOALS) / columns)
    fig = Figure(figsize=(12, 3.2 * rows), layout="constrained")
    axes = fig.subplots(rows, columns).ravel()[: len(GOALS)]
    for ax, (key, (label, goal, _kind)) in zip(axes, GOALS.items(), strict=True):
        value = keys.get(key, math.nan)
        ax.bar([0], [value], color="tab:green" if met(key, value) else "tab:red", width=0.5)
        ax.axhline(goal, color="black", linestyle="--", linewidth=1)
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.text(0, value, f"{value:.3g}", ha="center", va="bottom", fontsize=9)
        if key == "registry_vs_stock_ratio":
            ax.set_yscale("log")
    fig.suptitle("helperhub benchmarks (dashed line: goal; green: met)")
    fig.savefig(path, dpi=100)
