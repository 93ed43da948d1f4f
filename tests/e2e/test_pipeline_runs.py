"""The example pipeline run for real with kfp.local against the real registry and images,
and the pin commands against real registries."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from helperhub.lock.lockfile import load_lock, save_lock
from helperhub.pipelines.delivery import Delivery, Mode
from helperhub.pipelines.local_run import RunResult, run_local
from helperhub.pipelines.pins import bump_pin, check_pins
from helperhub.release.project import discover
from tests.conftest import ReleasedRepo

pytestmark = [pytest.mark.docker, pytest.mark.slow]
RESULTS: dict[str, RunResult] = {}


@pytest.fixture
def private_pip_only(released_all: ReleasedRepo) -> Iterator[None]:
    """Local runs install from the private index alone, as pods do; nothing else is configured."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        del os.environ[key]
    os.environ["PIP_CONFIG_FILE"] = os.devnull
    os.environ["PIP_INDEX_URL"] = released_all.index.settings.simple_url  # kfp.local's own pip calls
    os.environ["PIP_TRUSTED_HOST"] = released_all.index.settings.host
    yield
    os.environ.clear()
    os.environ.update(saved)


def delivery(repo: ReleasedRepo, mode: Mode, **kw: object) -> Delivery:
    return Delivery(lock=load_lock(repo.root / "pins.json"), mode=mode, source_root=repo.root, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "runner", "installer"),
    [(Mode.IMAGE, "docker", "-"), (Mode.PACKAGE, "docker", "uv"), (Mode.PACKAGE, "subprocess", "pip"),
     (Mode.EMBEDDED, "subprocess", "uv")],
)
def test_example_pipeline_runs(
    released_all: ReleasedRepo, private_pip_only: None, tmp_path: Path, mode: Mode, runner: str, installer: str
) -> None:
    kw = {} if installer == "-" else {"installer": installer}
    result = run_local(delivery(released_all, mode, **kw), runner, tmp_path / "runs", n_samples=200, seed=3)
    assert 0.75 <= result.accuracy <= 1.0, result
    assert result.metrics["accuracy"] == pytest.approx(result.accuracy)
    assert {"precision", "recall", "f1", "roc_auc"} <= set(result.metrics)
    assert result.quality["tabular_checks_passed"] == 1.0 and result.quality["rows"] == 200.0
    assert list(tmp_path.glob("runs/*/evaluate/plot")), "no plot artifact"
    RESULTS[f"{mode}-{runner}-{installer}"] = result


def test_every_mode_gives_the_same_metrics() -> None:
    if len(RESULTS) < 4:
        pytest.skip("needs the four runs above")
    first = next(iter(RESULTS.values()))
    for key, result in RESULTS.items():
        assert result.metrics == first.metrics, key


def test_pins_check_passes_on_a_fresh_release(released_all: ReleasedRepo) -> None:
    assert check_pins(load_lock(released_all.root / "pins.json")) == []


def test_pins_check_fails_on_an_altered_sha(released_all: ReleasedRepo, tmp_path: Path) -> None:
    lock = load_lock(released_all.root / "pins.json")
    pin = lock.require("tabular-helpers", fix="-")
    altered = lock.with_pin(dataclasses.replace(pin, sha256="0" * 64))
    problems = check_pins(altered)
    assert problems and {p.name for p in problems} == {"tabular-helpers"}
    assert "lock has 000000" in problems[0].message


def test_pins_check_fails_when_the_registry_is_stopped(released_all: ReleasedRepo, tmp_path: Path) -> None:
    from tests.conftest import start_index

    other = start_index(tmp_path / "idx")
    lock = load_lock(released_all.root / "pins.json")
    moved = lock.with_pin(dataclasses.replace(lock.require("tabular-helpers", fix="-"),
                                              index_url=other.settings.simple_url))
    other.stop()
    problems = check_pins(moved)
    assert problems and "cannot reach the package index" in problems[0].message


def test_pins_bump_resolves_from_the_registries(released_all: ReleasedRepo, tmp_path: Path) -> None:
    original = load_lock(released_all.root / "pins.json").require("vision-helpers", fix="-")
    lock_path = tmp_path / "pins.json"
    save_lock(lock_path, load_lock(released_all.root / "pins.json"))
    pin = bump_pin(lock_path, "vision-helpers", "1.0.0", released_all.index.settings, released_all.oci,
                   set(discover(released_all.root)), original.kfp_version)
    assert (pin.sha256, pin.url, pin.depends) == (original.sha256, original.url, original.depends)
    assert pin.image is not None and original.image is not None
    assert pin.image.ref == original.image.ref
    assert load_lock(lock_path).require("vision-helpers", fix="-") == pin
