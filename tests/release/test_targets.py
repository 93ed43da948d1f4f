"""A release for several targets: each target's closure fetched before anything is uploaded, and
a target no wheel meets stopping the release with the index untouched."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import kfp
import pytest

from helperhub.core import defaults
from helperhub.core.errors import RegistryError
from helperhub.core.progress import Silent
from helperhub.core.targets import TargetFacts, TargetSpec
from helperhub.core.wheelhouse import closure_key, fetch_closure, newest_files, target_download_args, unmatched
from helperhub.images.targets import ResolvedTarget, default_target
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import PackagePin
from helperhub.lock.target_pins import TargetPin
from helperhub.release.closures import kept_closure
from helperhub.release.mirror import closure_requirements
from helperhub.release.project import discover
from tests.conftest import Released, RunningIndex, commit_all, make_repo, release_settings
from tests.indexclients import build_wheel

PY313_ARM = TargetFacts("3.13", "cp", (2, 41), "aarch64")


def test_a_target_download_asks_for_its_python_implementation_and_platform_tags() -> None:
    args = target_download_args(["numpy>=1.26"], "/tmp/d", TargetFacts("3.13", "cp", (2, 7), "aarch64"),
                                find_links=Path("/b"), constraints=Path("/c.txt"))
    assert args == [
        "pip", "download", "--progress-bar", "off", "--only-binary=:all:", "--python-version", "3.13",
        "--implementation", "cp",
        "--platform", "manylinux_2_7_aarch64", "--platform", "manylinux_2_6_aarch64", "--platform",
        "manylinux_2_5_aarch64", "--platform", "manylinux2014_aarch64", "--platform", "manylinux2010_aarch64",
        "--platform", "manylinux1_aarch64", "--platform", "linux_aarch64",
        "--find-links", "/b", "--constraint", "/c.txt", "--dest", "/tmp/d", "numpy>=1.26",
    ]


def test_unmatched_reads_both_of_pips_ways_of_saying_no_wheel() -> None:
    assert unmatched("ERROR: No matching distribution found for NumPy==1.26.4\n") == ["numpy"]
    conflict = (
        "The conflict is caused by:\n    The user requested numpy==1.26.4\n\n"
        "Additionally, some packages in these conflicts have no matching distributions available for "
        "your environment:\n    numpy\n    Pillow\n\nTo fix this you could try to:\n"
    )
    assert unmatched(conflict) == ["numpy", "pillow"]
    assert unmatched("ERROR: something else entirely") == []


def test_the_wheels_that_exist_are_those_of_the_newest_version_allowed() -> None:
    names = {"a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "a-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
             "a-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", "not a wheel"}
    assert newest_files(names, "a==1.0") == ["a-1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
                                             "a-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"]
    assert newest_files(names, "a") == ["a-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"]
    assert newest_files(names, "a>3") == []


def test_a_re_release_keeps_only_the_closures_of_an_unchanged_runtime() -> None:
    files = (LockedFile("numpy", "2.0.0", "numpy-2.0.0-cp313-cp313-manylinux_2_17_x86_64.whl", "0" * 64),)
    pin = PackagePin("h", "1.0.0", "h-1.0.0-py3-none-any.whl", "1" * 64, "u", "i", "2.17.3", "c", "t",
                     targets={"py313": TargetPin("3.13", "cp", (2, 41), closure={"linux/amd64": files})})
    spec = TargetSpec("py313", "python:3.13-slim", ("linux/amd64",))
    same = ResolvedTarget(spec, "b", {"linux/amd64": "b"},
                          {"linux/amd64": TargetFacts("3.13", "cp", (2, 41), "x86_64")})
    newer_glibc = ResolvedTarget(spec, "b", {"linux/amd64": "b"},
                                 {"linux/amd64": TargetFacts("3.13", "cp", (2, 42), "x86_64")})
    assert kept_closure(pin, same, "linux/amd64") == files
    assert kept_closure(pin, newer_glibc, "linux/amd64") == ()
    assert kept_closure(pin, default_target("python:3.11-slim"), "linux/amd64") == ()
    assert kept_closure(None, same, "linux/amd64") == ()


def _index_bytes(index: RunningIndex) -> dict[str, str]:
    return {str(p.relative_to(index.packages)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(index.packages.rglob("*")) if p.is_file()}


@pytest.mark.docker
@pytest.mark.slow
def test_a_target_no_wheel_meets_stops_the_release_before_any_upload(
    tmp_path: Path, fresh_index: RunningIndex, monkeypatch: pytest.MonkeyPatch, released: Released,
) -> None:
    """A dependency with an x86_64 wheel only, released for linux/amd64 and linux/arm64: the
    release stops on the arm64 closure, before uv, the tool or any helper file is uploaded."""
    from helperhub.release.run import release, release_targets

    # the host's indexes, offline: the dependency's one wheel and the wheelhouse of earlier releases
    links = tmp_path / "links"
    wheel = build_wheel(links, "onlyx86", "1.0").path
    only = wheel.with_name("onlyx86-1.0-cp311-cp311-manylinux_2_17_x86_64.whl")
    wheel.rename(only)
    wheelhouse = defaults.cache_dir() / "wheelhouse"
    root = make_repo(tmp_path / "repo")
    # this host's closure of the helper as the session's release fetched it (kfp's API client is
    # built from its sdist, which no offline index holds): the warm cache of a release host
    projects = discover(root)
    host = [p.name for p in fetch_closure(closure_requirements(projects["tabular-helpers"], projects,
                                                               kfp.__version__), defaults.cache_dir())]
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", f"{links} {wheelhouse}")
    pyproject = root / "helpers" / "tabular-helpers" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"numpy>=1.26",', '"numpy>=1.26",\n    "onlyx86==1.0",'))
    (root / "pyproject.toml").write_text(
        '[tool.helperhub.targets.py311]\nbase-image = "python:3.11-slim"\n'
        'platforms = ["linux/amd64", "linux/arm64"]\n'
    )
    os.system(f"git -C {root} add -A >/dev/null")
    commit_all(root, "a dependency without an arm64 wheel")
    projects = discover(root)
    reqs = closure_requirements(projects["tabular-helpers"], projects, kfp.__version__)
    cache = tmp_path / "cache"
    (cache / "wheelhouse").mkdir(parents=True)
    for name in host:
        (cache / "wheelhouse" / name).symlink_to(wheelhouse / name)
    (cache / "wheelhouse" / only.name).symlink_to(only)
    (cache / "closures").mkdir()
    (cache / "closures" / f"{closure_key(reqs)}.json").write_text(json.dumps(sorted([*host, only.name])))
    oci = os.environ.get("HUB_OCI_REGISTRY", defaults.OCI_REGISTRY)
    targets = release_targets(root, oci, defaults.BASE_IMAGE, defaults.cache_dir())
    before = _index_bytes(fresh_index)

    with pytest.raises(RegistryError) as failed:
        release(release_settings(root, fresh_index.settings, targets=targets, cache=cache), [], Silent())

    message = str(failed.value)
    assert "tabular-helpers for target py311 (linux/arm64)" in message
    assert "onlyx86==1.0 has no wheel for CPython 3.11 on aarch64 (glibc 2.36)" in message
    assert "wheels that exist: onlyx86-1.0-cp311-cp311-manylinux_2_17_x86_64.whl" in message
    assert "\n" not in message
    assert _index_bytes(fresh_index) == before
    assert not (root / "pins.json").exists()
