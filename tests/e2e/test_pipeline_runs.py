"""The example pipeline run for real with kfp.local against the real registry and images,
and the pin commands against real registries."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from helperhub.lock.lockfile import load_lock, save_lock
from helperhub.pipelines.delivery import Delivery, Mode
from helperhub.pipelines.local_run import RunResult, run_local
from helperhub.pipelines.pins import bump_pin, check_pins
from helperhub.registry.client import IndexSettings
from helperhub.release.project import discover
from tests.conftest import ReleasedRepo, start_index

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# mode, runner, installer ("-": the image brings everything)
RUNS = [(Mode.IMAGE, "docker", "-"), (Mode.PACKAGE, "docker", "uv"), (Mode.PACKAGE, "subprocess", "pip"),
        (Mode.EMBEDDED, "subprocess", "uv")]


@contextmanager
def private_pip_only(index: IndexSettings) -> Iterator[None]:
    """Local runs install from the private index alone, as pods do; nothing else is configured."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        del os.environ[key]
    os.environ["PIP_CONFIG_FILE"] = os.devnull
    os.environ["PIP_INDEX_URL"] = index.simple_url  # kfp.local's own pip calls
    os.environ["PIP_TRUSTED_HOST"] = index.host
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def delivery(repo: ReleasedRepo, mode: Mode, **kw: object) -> Delivery:
    return Delivery(lock=load_lock(repo.root / "pins.json"), mode=mode, source_root=repo.root, **kw)  # type: ignore[arg-type]


Runs = Callable[[Mode, str, str], RunResult]


@pytest.fixture(scope="module")
def runs(released_all: ReleasedRepo, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """Each run once per module, whichever test asks first: a test that compares runs makes the
    ones it needs itself, so it never depends on which other tests were selected or ran before."""
    done: dict[tuple[Mode, str, str], RunResult | None] = {}  # None: the run failed (once is enough)

    def run(mode: Mode, runner: str, installer: str) -> RunResult:
        key = (mode, runner, installer)
        if key not in done:
            done[key] = None
            kw = {} if installer == "-" else {"installer": installer}
            out = tmp_path_factory.mktemp(f"runs-{mode}-{runner}-{installer}")
            with private_pip_only(released_all.index.settings):
                result = run_local(delivery(released_all, mode, **kw), runner, out, n_samples=200, seed=3)
            assert list(out.glob("*/evaluate/plot")), "no plot artifact"
            done[key] = result
        result = done[key]
        if result is None:
            pytest.fail(f"the {mode} run ({runner}, {installer}) failed in an earlier test")
        return result

    return run


@pytest.mark.parametrize(("mode", "runner", "installer"), RUNS)
def test_example_pipeline_runs(runs: Runs, mode: Mode, runner: str, installer: str) -> None:
    result = runs(mode, runner, installer)
    assert 0.75 <= result.accuracy <= 1.0, result
    assert result.metrics["accuracy"] == pytest.approx(result.accuracy)
    assert {"precision", "recall", "f1", "roc_auc"} <= set(result.metrics)
    assert result.quality["tabular_checks_passed"] == 1.0 and result.quality["rows"] == 200.0


def test_every_mode_gives_the_same_metrics(runs: Runs) -> None:
    first, *others = (runs(*run) for run in RUNS)
    for run, result in zip(RUNS[1:], others, strict=True):
        assert result.metrics == first.metrics, run


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
                   set(discover(released_all.root)), original.kfp_version).pin
    assert (pin.sha256, pin.url, pin.depends) == (original.sha256, original.url, original.depends)
    assert pin.image is not None and original.image is not None
    assert pin.image.ref == original.image.ref
    assert load_lock(lock_path).require("vision-helpers", fix="-") == pin
