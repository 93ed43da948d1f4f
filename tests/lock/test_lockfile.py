"""The lock file pins.json: written sorted and atomically, merged one pin at a time, clear when broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helperhub.core.errors import LockError
from helperhub.lock.lockfile import Lock, dump_lock, load_lock, save_lock, update_lock
from tests.pipelines.test_factory import fake_pin


def test_lock_round_trips_and_is_sorted(tmp_path: Path) -> None:
    lock = Lock({"vision-helpers": fake_pin("vision-helpers"), "tabular-helpers": fake_pin("tabular-helpers")})
    path = tmp_path / "pins.json"
    save_lock(path, lock)
    assert load_lock(path) == lock
    text = path.read_text()
    assert text == dump_lock(lock) and text.endswith("\n")
    assert list(json.loads(text)["packages"]) == ["tabular-helpers", "vision-helpers"]
    assert [p.name for p in tmp_path.iterdir()] == ["pins.json"]  # no temp file left behind


def test_update_lock_merges_one_pin(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    update_lock(path, fake_pin("tabular-helpers"))
    update_lock(path, fake_pin("vision-helpers"))
    assert sorted(load_lock(path).packages) == ["tabular-helpers", "vision-helpers"]


def test_broken_lock_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    path.write_text("{ not json")
    with pytest.raises(LockError, match="not valid JSON"):
        load_lock(path)
    assert load_lock(tmp_path / "missing.json") == Lock()


