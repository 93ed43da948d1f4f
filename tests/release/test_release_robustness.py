"""A release that loses nothing: killed at any stage and re-run, run twice at once, and never
fooled by another index that serves a higher version of a private name."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helperhub.lock.lockfile import load_lock
from helperhub.registry.client import IndexSettings, project_files
from helperhub.release.project import discover
from helperhub.release.versions import parse_version, write_version
from tests.conftest import ReleasedRepo, RunningIndex, clean_env, commit_all, git, make_repo, start_index
from tests.sidebyside import make_wheel

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def release_cmd(
    root: Path, index: RunningIndex, oci: str, base_image: str, *extra: str
) -> tuple[list[str], dict[str, str]]:
    env = {**clean_env(), "HUB_INDEX_URL": index.settings.base, "HUB_INDEX_USER": index.settings.username or "",
           "HUB_INDEX_PASSWORD": index.settings.password or "", "HUB_OCI_REGISTRY": oci, "BASE_IMAGE": base_image,
           "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return [sys.executable, "-m", "helperhub", "release", "--root", str(root), "--require-images", *extra], env


def bump(root: Path, version: str) -> None:
    project = discover(root)["tabular-helpers"]
    write_version(project.version_source, parse_version(version))
    commit_all(root, f"tabular-helpers {version}")


def assert_consistent(root: Path, index: RunningIndex, oci: str) -> None:
    """The lock names what the registries serve: wheel sha256 and image digest."""
    from helperhub.images.oci import remote_image
    from helperhub.pipelines.pins import check_pins

    lock = load_lock(root / "pins.json")
    assert check_pins(lock) == []
    pin = lock.require("tabular-helpers", fix="-")
    assert pin.image is not None
    remote = remote_image(f"{oci}/tabular-helpers", pin.version)
    assert remote is not None and pin.image.ref.endswith(remote.digest)


# what the release prints when it enters each stage (the kill comes right after)
STAGES = {
    "during-build": "building tabular-helpers",  # the tests and the closure check still run
    "after-wheel-upload": "uploading tabular_helpers",
    "during-image-build": "released (",
    "during-image-push": "building 127.0.0.1",
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_killed_release_completes_on_rerun(
    released_all: ReleasedRepo, tmp_path: Path, stage: str
) -> None:
    root = make_repo(tmp_path / "repo")
    version = f"1.1.{sorted(STAGES).index(stage)}"
    bump(root, version)
    cmd, env = release_cmd(root, released_all.index, released_all.oci, released_all.base_image, "tabular-helpers")
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if STAGES[stage] in line:
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    lock_text = (root / "pins.json").read_text() if (root / "pins.json").exists() else "{}"
    json.loads(lock_text)  # never half written
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert load_lock(root / "pins.json").require("tabular-helpers", fix="-").version == version
    assert_consistent(root, released_all.index, released_all.oci)


def test_two_concurrent_releases_of_one_version(released_all: ReleasedRepo, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    bump(root, "1.2.0")
    cmd, env = release_cmd(root, released_all.index, released_all.oci, released_all.base_image, "tabular-helpers")
    results: list[subprocess.CompletedProcess[str]] = []
    threads = [threading.Thread(target=lambda: results.append(
        subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900))) for _ in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.2)
    for t in threads:
        t.join()
    if [r.returncode for r in results] != [0, 0]:
        pytest.fail("\n---\n".join(r.stderr[-3000:] for r in results))
    files = [n for n in os.listdir(released_all.index.packages) if n.startswith("tabular_helpers-1.2.0")]
    assert sorted(files) == ["tabular_helpers-1.2.0-py3-none-any.whl", "tabular_helpers-1.2.0.tar.gz"]
    assert git(root, "tag", "--list", "tabular-helpers-v1.2.0") == "tabular-helpers-v1.2.0"
    assert_consistent(root, released_all.index, released_all.oci)


def pip_report(index_args: list[str], requirement: str, env: dict[str, str]) -> str:
    """The version pip would install (resolved, nothing installed)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--report", "-", "--no-deps",
         *index_args, requirement], capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["install"][0]["metadata"]["version"])


def test_dependency_confusion_cannot_reach_pinned_installs(
    released_all: ReleasedRepo, tmp_path: Path
) -> None:
    from helperhub.pipelines.delivery import Delivery, Mode, parse_helper, require_pin
    from helperhub.pipelines.factory import component_options

    evil = start_index(tmp_path / "evil")
    try:
        name, data = make_wheel("tabular-helpers", "99.0.0")
        from helperhub.release.publish import twine_upload

        (tmp_path / name).write_bytes(data)
        twine_upload(evil.settings, [tmp_path / name])
        private = released_all.index.settings
        env = clean_env()

        # package mode: exactly what the factory gives pip
        lock = load_lock(released_all.root / "pins.json")
        refs = [parse_helper("tabular-helpers")]
        opts = component_options(Delivery(lock=lock, mode=Mode.PACKAGE, installer="pip"), refs,
                                 [require_pin(lock, "tabular-helpers")])
        index_args = ["--index-url", opts["pip_index_urls"][0]]
        for host in opts["pip_trusted_hosts"]:
            index_args += ["--trusted-host", host]
        helper_req = next(p for p in opts["packages_to_install"] if p.startswith("tabular-helpers"))
        hostile = {**env, "PIP_EXTRA_INDEX_URL": evil.settings.simple_url}  # e.g. set by a base image
        pinned_version = lock.require("tabular-helpers", fix="-").version
        assert pip_report(["--isolated", *index_args], helper_req, hostile) == pinned_version
        # even unpinned, the private index alone never offers the higher version of the other index
        newest_private = max(
            f.version for f in project_files(private, "tabular-helpers").values() if f.version is not None
        )
        assert pip_report(["--isolated", *index_args], "tabular-helpers", hostile) == str(newest_private)
        # the contrast: an extra index lets the higher version win
        extra = [*index_args, "--extra-index-url", evil.settings.simple_url, "--trusted-host", "127.0.0.1"]
        assert pip_report(extra, "tabular-helpers", env) == "99.0.0"

        # the image build installs by hash from the private index only
        from helperhub.images.context import image_spec

        spec = image_spec(lock.require("tabular-helpers", fix="-"), registry="r:5000", base_image="b",
                          index=IndexSettings(private.base), uv=lock.require_tool("uv"))
        args = dict(spec.buildargs)
        pinned = next(w for w in args["REQUIREMENTS"].split() if w.startswith("tabular-helpers@"))
        assert pinned.startswith(f"tabular-helpers@{private.base}/packages/") and "#sha256=" in pinned
        assert pip_report(["--isolated", "--index-url", private.simple_url, "--trusted-host", "127.0.0.1"],
                          pinned, hostile) == pinned_version
    finally:
        evil.stop()
