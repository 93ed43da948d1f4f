"""`pins show` and `pins diff` per target (pure): pins built from the repository's pins.json with a
second target (Python 3.13 on amd64 and arm64) added by dataclasses.replace. A lock with only the
target ``default`` shows and diffs as before targets."""

from __future__ import annotations

from dataclasses import replace

import pytest

from helperhub.core.errors import LockError
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import Lock, PackagePin, dump_lock, load_lock, parse_lock
from helperhub.lock.target_pins import TargetPin
from helperhub.pipelines.pin_history import diff_lines, diff_rows, target_diff_lines
from helperhub.pipelines.pins import closure_file_count, closure_rows, pins_columns, pins_rows
from tests.conftest import DEFAULT_LOCK

AMD, ARM = "linux/amd64", "linux/arm64"
INDEX_DIGEST, AMD_DIGEST, ARM_DIGEST = ("sha256:" + c * 64 for c in "789")


def repo_lock() -> Lock:
    return load_lock(DEFAULT_LOCK)


def arm(f: LockedFile) -> LockedFile:
    return replace(f, filename=f.filename.replace("x86_64", "aarch64"), sha256=f.sha256[::-1])


def with_py313(pin: PackagePin) -> PackagePin:
    """``pin`` also released for py313: CPython 3.13, glibc 2.41, a multi-platform image."""
    default = pin.require_target("default")
    assert default.image is not None
    repo = default.image.ref.split("@", 1)[0]
    files = default.closure[AMD]
    py313 = replace(
        default, python="3.13", glibc=(2, 41),
        image=replace(default.image, ref=f"{repo}@{INDEX_DIGEST}", tag=f"{repo}:{pin.version}-py313",
                      platforms={AMD: AMD_DIGEST, ARM: ARM_DIGEST}),
        closure={AMD: files, ARM: tuple(arm(f) for f in files)},
    )
    return replace(pin, targets={**pin.targets, "py313": py313})


def test_a_lock_with_only_the_default_target_shows_as_before_targets() -> None:
    lock = repo_lock()
    assert pins_columns(lock) == ("helper", "version", "wheel sha256", "image digest", "modes", "closure")
    expected = []
    for name, pin in sorted(lock.packages.items()):
        assert pin.image is not None
        expected.append((name, pin.version, pin.sha256[:12], pin.image.ref.split("@", 1)[1][:19], "image, package",
                         str(len(pin.closure))))
    assert pins_rows(lock) == expected


def test_each_target_is_a_row_with_its_python_platforms_image_and_closure_per_platform() -> None:
    lock = repo_lock()
    tabular = lock.require("tabular-helpers", fix="-")
    lock = lock.with_pin(with_py313(tabular))
    assert pins_columns(lock) == ("helper", "version", "wheel sha256", "target", "python", "platforms",
                                  "image digest", "modes", "closure")
    rows = pins_rows(lock)
    size = str(len(tabular.closure))
    assert tabular.image is not None
    assert rows[:2] == [
        ("tabular-helpers", tabular.version, tabular.sha256[:12], "default (default)", "3.11 (cp, glibc 2.36)",
         "amd64", tabular.image.ref.split("@", 1)[1][:19], "image, package", size),
        ("", "", "", "py313", "3.13 (cp, glibc 2.41)", "amd64, arm64", INDEX_DIGEST[:19], "image, package",
         f"amd64 {size}, arm64 {size}"),
    ]
    assert rows[2][:4] == ("vision-helpers", lock.require("vision-helpers", fix="-").version,
                           lock.require("vision-helpers", fix="-").sha256[:12], "default")  # its only target
    # a target without an image serves package mode only
    bare = replace(with_py313(tabular).targets["py313"], image=None)
    only = replace(tabular, targets={"py313": bare}, default_target="")
    assert pins_rows(Lock({"tabular-helpers": only}))[0][3:] == (
        "py313", "3.13 (cp, glibc 2.41)", "amd64, arm64", "-", "package", f"amd64 {size}, arm64 {size}")


def test_the_closure_of_a_target_on_a_platform() -> None:
    lock = repo_lock()
    tabular = with_py313(lock.require("tabular-helpers", fix="-"))
    lock = lock.with_pin(tabular)
    arm_files = tabular.targets["py313"].closure[ARM]
    rows = closure_rows(lock, "tabular-helpers", "py313", ARM)
    assert [r[2] for r in rows] == [f.filename for f in sorted(arm_files)]
    assert any("aarch64" in r[2] for r in rows)
    assert closure_rows(lock, "tabular-helpers") == closure_rows(lock, "tabular-helpers", "default", AMD)
    with pytest.raises(LockError, match="has no target 'py312'; it has default, py313"):
        closure_rows(lock, "tabular-helpers", "py312")
    with pytest.raises(LockError, match="has no closure for linux/arm64 in target default; it has linux/amd64"):
        closure_rows(lock, "tabular-helpers", None, ARM)
    before = closure_file_count(repo_lock())
    assert closure_file_count(lock) == before + len({f.filename for f in arm_files} - {
        f.filename for p in repo_lock().packages.values() for f in p.closure})


def test_a_lock_with_targets_round_trips_byte_for_byte() -> None:
    lock = repo_lock()
    lock = lock.with_pin(with_py313(lock.require("tabular-helpers", fix="-")))
    text = dump_lock(lock)
    again = parse_lock(text, "pins.json")
    assert again == lock and dump_lock(again) == text
    pin = again.require("tabular-helpers", fix="-")
    assert list(pin.targets) == ["default", "py313"] and pin.targets["py313"].platforms == (AMD, ARM)
    image = pin.targets["py313"].image
    assert image is not None and image.platforms == {AMD: AMD_DIGEST, ARM: ARM_DIGEST}


def numpy_moved(pin: PackagePin, version: str, target: str, platform: str) -> PackagePin:
    """``pin`` as another release whose numpy moved on ``platform`` of ``target``."""
    chosen = pin.targets[target]
    files = tuple(replace(f, version="9.9.9", sha256="e" * 64) if f.name == "numpy" else f
                  for f in chosen.closure[platform])
    moved: TargetPin = replace(chosen, closure={**chosen.closure, platform: files})
    return replace(pin, version=version, targets={**pin.targets, target: moved})


def test_diff_per_target_and_platform() -> None:
    tabular = repo_lock().require("tabular-helpers", fix="-")
    numpy = next(f for f in tabular.closure if f.name == "numpy")
    # only the default target: as before targets
    plain = numpy_moved(tabular, "1.1.0", "default", AMD)
    assert target_diff_lines(tabular, plain) == diff_lines("tabular-helpers", tabular.version, "1.1.0",
                                                           diff_rows(tabular, plain))
    assert target_diff_lines(tabular, plain)[-1].endswith("1 moved (1 changed, 0 added, 0 removed)")
    # the new release adds py313, moved numpy there on arm64 only
    multi = numpy_moved(with_py313(replace(tabular, version="1.1.0")), "1.1.0", "py313", ARM)
    assert target_diff_lines(tabular, multi) == [
        "+ target py313 (only in 1.1.0)",
        f"tabular-helpers {tabular.version} -> 1.1.0: no dependency moved [default linux/amd64]",
    ]
    older = with_py313(tabular)
    assert target_diff_lines(older, multi) == [
        f"tabular-helpers {tabular.version} -> 1.1.0: no dependency moved [default linux/amd64]",
        f"tabular-helpers {tabular.version} -> 1.1.0: no dependency moved [py313 linux/amd64]",
        f"numpy {numpy.version} -> 9.9.9",
        f"tabular-helpers {tabular.version} -> 1.1.0: 1 moved (1 changed, 0 added, 0 removed) [py313 linux/arm64]",
    ]
    assert target_diff_lines(older, multi, "py313")[0].endswith("[py313 linux/amd64]")
    with pytest.raises(LockError, match=f"tabular-helpers {tabular.version} has no target 'py313'; it has default"):
        target_diff_lines(tabular, multi, "py313")
    # nothing in common: the default targets are compared, and said to be
    only313 = replace(multi, targets={"py313": multi.targets["py313"]}, default_target="")
    lines = target_diff_lines(tabular, only313)
    assert lines[0] == f"no target in common: comparing default of {tabular.version} with py313 of 1.1.0"
    assert lines[-1] == f"tabular-helpers {tabular.version} -> 1.1.0: no dependency moved"
