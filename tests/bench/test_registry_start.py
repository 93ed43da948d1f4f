"""P5 registry start: the folders it makes, how it reads /health, its ratios and table, and one
small real run of both servers."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from bench.registry_start import (
    FIRST,
    REGISTRY,
    RESTART,
    START_TIMEOUT,
    STOCK,
    Shape,
    StartRow,
    caught_up,
    make_folder,
    measure_shape,
    shapes,
    start_keys,
)
from bench.report import start_table, table
from helperhub.registry.server.validate import check_archive


def _health(status: int, body: str) -> requests.Response:
    resp = requests.Response()
    resp.status_code, resp._content = status, body.encode()
    return resp


def test_the_folders_hold_valid_wheels_of_the_shape(tmp_path: Path) -> None:
    shape = Shape("deep", projects=4, files=12)
    make_folder(tmp_path, shape)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 12 and len({f.split("-")[0] for f in files}) == 4
    project, probe = shape.probe()
    assert project == "p00002" and len(probe) == 3 and set(probe) <= set(files)
    for name in files:
        check_archive(tmp_path / name, name)  # the registry's own check: metadata agrees with the name


def test_health_is_read_as_caught_up_only_without_catching_up() -> None:
    catching = {"reads": True, "writes": False, "catching_up": {"done": 3, "total": 10}}
    assert caught_up(_health(200, json.dumps(catching))) == (False, True)
    assert caught_up(_health(200, json.dumps({"reads": True, "writes": True}))) == (True, True)
    assert caught_up(_health(200, "Ok")) == (True, False)  # a plain /health: bound once caught up
    assert caught_up(_health(503, "starting")) == (False, False)
    assert caught_up(None) == (False, False)


def _row(shape: str, server: str, start: str, first: float | None, caught: float | None = None,
         health_json: bool = True) -> StartRow:
    return StartRow(shape, 100, 100, server, start, first, caught, 50.0, health_json)


def test_the_worse_shape_decides_and_a_failed_start_counts_as_its_bound() -> None:
    rows = [
        _row("flat", STOCK, FIRST, 2.0), _row("flat", STOCK, RESTART, 2.0),
        _row("flat", REGISTRY, FIRST, 1.0, 30.0), _row("flat", REGISTRY, RESTART, 0.5, 0.6),
        _row("deep", STOCK, FIRST, 1.0), _row("deep", STOCK, RESTART, 1.0),
        _row("deep", REGISTRY, FIRST, 1.5, 2.0), _row("deep", REGISTRY, RESTART, None, None, health_json=False),
    ]
    keys = start_keys(rows)
    assert keys["registry_first_start_vs_stock_ratio"] == 1.5
    assert keys["registry_restart_vs_stock_ratio"] == START_TIMEOUT
    assert keys["registry_catch_up_reported"] == 0.0
    shown = {label: verdict for label, _, _, verdict in table(keys, measured_only=True)}
    assert len(shown) == 3 and set(shown.values()) == {"MISSED"}
    lines = start_table(rows)
    assert f"| deep | 100 | {REGISTRY} | {RESTART} | failed (> {START_TIMEOUT:.0f} s) |" in lines[-1]
    assert f"| flat | 100 | {STOCK} | {FIRST} | 2.00 s | — | 50 |" == lines[2]


def test_a_small_folder_is_measured_on_both_servers(tmp_path: Path) -> None:
    logged: list[str] = []
    rows = measure_shape(tmp_path, Shape("small", projects=20, files=40), logged.append)
    assert [(r.server, r.start) for r in rows] == [(STOCK, FIRST), (STOCK, RESTART), (REGISTRY, FIRST),
                                                   (REGISTRY, RESTART)]
    assert not any(r.failed for r in rows), logged
    assert all(r.first_answer_s is not None and 0 < r.first_answer_s < 60 and r.rss_mb > 10 for r in rows)
    ours = [r for r in rows if r.server == REGISTRY]
    assert all(r.caught_up_s is not None and r.caught_up_s > 0 for r in ours)
    assert not any(p.is_dir() for p in tmp_path.iterdir())  # the folders are removed


def test_the_two_shapes_of_twenty_thousand_files() -> None:
    flat, deep = shapes()
    assert (flat.projects, flat.per_project) == (20_000, 1) and (deep.projects, deep.per_project) == (200, 100)
