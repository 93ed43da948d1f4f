"""P2: a full release against the bare tools it wraps, and an unchanged re-release; P4: the
image's size over its base against the installed closure."""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from helperhub.core.fs import sha256_file
from helperhub.core.tools import clean_pip_env
from helperhub.images.context import DOCKERFILE, image_spec
from helperhub.lock.lockfile import load_lock
from helperhub.release.project import discover
from helperhub.release.versions import parse_version, write_version

from .setup import Stack, commit_all, git


def _timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} failed: {(proc.stderr or proc.stdout)[-800:]}")
    return time.perf_counter() - start


def _bump(st: Stack, version: str) -> None:
    project = discover(st.root)["tabular-helpers"]
    write_version(project.version_source, parse_version(version))
    commit_all(st.root, f"tabular-helpers {version}")


def release_env(st: Stack) -> dict[str, str]:
    return {**clean_pip_env(), "HUB_INDEX_URL": st.index.base, "HUB_INDEX_USER": st.index.username or "",
            "HUB_INDEX_PASSWORD": st.index.password or "", "HUB_OCI_REGISTRY": st.oci, "BASE_IMAGE": st.base_image}


def measure_release(st: Stack, log: Any = print) -> dict[str, float]:
    env = release_env(st)
    cmd = [sys.executable, "-m", "helperhub", "release", "tabular-helpers", "--require-images", "--root", str(st.root)]
    first = _timed(cmd, env)  # mirrors the closure and builds the dependency layer once
    log(f"P2 first release (closure mirrored, dependency layer built): {first:.1f} s")
    _bump(st, "1.0.1")
    full = _timed(cmd, env)
    log(f"P2 release of 1.0.1: {full:.1f} s")
    noop = statistics.median(_timed(cmd, env) for _ in range(3))
    log(f"P2 unchanged re-release: {noop:.2f} s")

    _bump(st, "1.0.2")  # the same work, by hand, for the next version
    project = discover(st.root)["tabular-helpers"]
    epoch = git(st.root, "log", "-1", "--format=%ct", "--", str(project.path))
    t_tests = _timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                     {**os.environ, "PYTHONPATH": str(project.src)}, cwd=project.path)
    with tempfile.TemporaryDirectory() as out:
        t_build = _timed([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", out,
                          str(project.path)], {**os.environ, "SOURCE_DATE_EPOCH": epoch})
        dists = sorted(Path(out).iterdir())
        upload_env = {**env, "TWINE_USERNAME": st.index.username or "", "TWINE_PASSWORD": st.index.password or ""}
        t_upload = _timed([sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar",
                           "--repository-url", st.index.upload_url, *map(str, dists)], upload_env)
        wheel = next(p for p in dists if p.suffix == ".whl")
        lock = load_lock(st.root / "pins.json")
        pin = dataclasses.replace(
            lock.require("tabular-helpers", fix="-"), version="1.0.2",
            wheel=wheel.name, sha256=sha256_file(wheel), url=f"{st.index.base}/packages/{wheel.name}",
        )
    spec = image_spec(pin, registry=st.oci, base_image=st.base_image, index=st.index, uv=lock.require_tool("uv"))
    args = [a for k, v in spec.buildargs for a in ("--build-arg", f"{k}={v}")]
    with tempfile.TemporaryDirectory() as ctx:
        Path(ctx, "Dockerfile").write_bytes(DOCKERFILE.read_bytes())
        t_dbuild = _timed(["docker", "build", "-q", "--network", "host", *args, "-t", spec.ref, ctx])
    t_push = _timed(["docker", "push", "-q", spec.ref])
    bare = t_tests + t_build + t_upload + t_dbuild + t_push
    log(f"P2 bare tools for 1.0.2: pytest {t_tests:.1f} + build {t_build:.1f} + twine {t_upload:.1f} "
        f"+ docker build {t_dbuild:.1f} + push {t_push:.1f} = {bare:.1f} s")
    return {"first_release_s": first, "release_s": full, "noop_release_s": noop, "bare_tests_s": t_tests,
            "bare_build_s": t_build, "bare_upload_s": t_upload, "bare_docker_build_s": t_dbuild,
            "bare_push_s": t_push, "bare_total_s": bare, "bare_without_tests_s": bare - t_tests}


def measure_image_size(st: Stack, log: Any = print) -> dict[str, float]:
    import docker

    client = docker.from_env()
    pin = load_lock(st.root / "pins.json").require("tabular-helpers", fix="-")
    assert pin.image is not None
    image = client.images.get(pin.image.ref) if _has(client, pin.image.ref) else client.images.pull(pin.image.ref)
    base = client.images.get(st.base_image)
    added = image.attrs["Size"] - base.attrs["Size"]
    closure = int(client.containers.run(pin.image.ref, ["du", "-sb", "/opt/helpers"], network_mode="none",
                                        remove=True).split()[0])
    log(f"P4 image adds {added / 1e6:.1f} MB over its base; installed closure {closure / 1e6:.1f} MB")
    return {"image_added_mb": added / 1e6, "closure_mb": closure / 1e6}


def _has(client: Any, ref: str) -> bool:
    import docker.errors

    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False
