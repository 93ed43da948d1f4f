"""The Compose stack (docker-compose.yml through `helperhub compose`) on the real engine: built
from images this engine makes, released into, installed from through its front, an image-mode
step pulled from its OCI registry, a retention plan under the shipped policy, and everything still
served after down and up."""

# no `from __future__ import annotations`: kfp reads the real types of small_step

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from helperhub.core.defaults import cache_dir
from helperhub.core.errors import EngineError
from helperhub.registry.client import IndexSettings, fetch_sha256, health, project_files, project_names
from helperhub.stack.compose import (
    IMAGE_ENVS,
    ComposeStack,
    export_lines,
)
from helperhub.stack.compose_run import compose_down, compose_up
from helperhub.stack.registry_image import project_sources
from helperhub.stack.stack_images import StackImages, stack_images
from tests.conftest import FIXED_DATE, REPO, clean_env, free_port, git, make_repo, missing, release_settings
from tests.stack.test_compose import require_compose


@dataclass
class Stack:
    stack: ComposeStack
    exports: str
    index: IndexSettings
    root: Path | None = None  # the released repository


def cli_up(stack: ComposeStack, base_image: str) -> subprocess.CompletedProcess[str]:
    """`helperhub compose up` as `make compose-up` runs it, on the test's project, ports and state."""
    cmd = [sys.executable, "-m", "helperhub", "compose", "up", "--root", str(stack.root), "-p", stack.project,
           "--index-port", str(stack.index_port), "--oci-port", str(stack.oci_port), "--state", str(stack.state),
           "--base-image", base_image]
    env = {k: v for k, v in os.environ.items() if k not in IMAGE_ENVS}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def parse_exports(text: str) -> dict[str, str]:
    return {k: v for k, _, v in (shlex.split(line)[1].partition("=") for line in text.splitlines())}


def snapshot(dest: Path) -> Path:
    """A committed copy of what the stack is made of (the registry wheel's sources, the Compose
    file and what it mounts), at a fixed commit time: edits in the working tree while the tests
    run cannot change the stack's images between two `up`s."""
    mounted = [Path("docker-compose.yml"), Path("registry/nginx/compose.conf"), Path("registry/owners.toml"),
               Path("registry/retention.toml"), Path("registry/webhooks/webhooks.toml")]
    for rel in [*project_sources(REPO), *mounted]:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, dest / rel)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    subprocess.run(["git", "commit", "-qm", "stack"], cwd=dest, check=True,
                   env={**os.environ, "GIT_AUTHOR_DATE": FIXED_DATE, "GIT_COMMITTER_DATE": FIXED_DATE})
    return dest


@pytest.fixture(scope="module")
def up(client: Any, base_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    import docker.errors

    require_compose()
    try:
        client.images.get(base_image)
    except docker.errors.ImageNotFound:
        missing(f"base image {base_image} is not on this engine (set BASE_IMAGE, or `make engine`)")
    tmp = tmp_path_factory.mktemp("compose")
    stack = ComposeStack(snapshot(tmp / "checkout"), tmp / "state", f"hhtest-{uuid.uuid4().hex[:8]}", free_port(),
                         free_port())
    try:
        proc = cli_up(stack, base_image)
        values = parse_exports(proc.stdout)
        index = IndexSettings(values["HUB_INDEX_URL"], values["HUB_INDEX_USER"], values["HUB_INDEX_PASSWORD"])
        yield Stack(stack, proc.stdout, index)
    finally:
        compose_down(stack, volumes=True)
        for image in client.images.list():
            for tag in image.tags:
                if tag.startswith(stack.oci_registry + "/"):
                    client.images.remove(tag, force=True)


@pytest.mark.docker
@pytest.mark.slow
def test_up_prints_only_exports_and_runs_the_built_images(client: Any, up: Stack, base_image: str) -> None:
    stack = up.stack
    assert up.exports == export_lines(up.index, stack.oci_registry)
    assert up.index.url == f"http://127.0.0.1:{stack.index_port}" and up.index.username == "release"
    creds = json.loads((stack.state / "credentials.json").read_text())
    assert creds == {"username": "release", "password": up.index.password}
    assert {p.name: p.stat().st_mode & 0o777 for p in stack.state.iterdir()} == {
        "credentials.json": 0o600, "htpasswd": 0o600}
    containers = client.containers.list(all=True, filters={"label": f"com.docker.compose.project={stack.project}"})
    running = {c.labels["com.docker.compose.service"]: c for c in containers}
    assert sorted(running) == ["pypi", "registry", "registry-app", "registry-auth"]
    titles = {"registry-auth": "helperhub-registry", "registry-app": "helperhub-registry",
              "pypi": "helperhub-front", "registry": "helperhub-oci-registry"}
    for name, container in running.items():
        assert container.attrs["Config"]["Image"] == container.attrs["Image"], name  # pinned by image id
        labels = client.images.get(container.attrs["Image"]).attrs["Config"]["Labels"]
        assert labels["org.opencontainers.image.title"] == titles[name], name  # built here, not pulled
        checked = container.attrs["State"].get("Health", {}).get("Status", "")
        assert (container.status, checked) == (("exited", "") if name == "registry-auth" else ("running", "healthy"))
    published = {b["HostIp"] for c in containers for bs in (c.ports or {}).values() for b in bs or []}
    assert published == {"127.0.0.1"}
    # found by their keys the second time: nothing is built, the ids are those running
    logged: list[str] = []
    again = stack_images(client, stack.root, base_image, cache_dir(), given=StackImages("", "", ""),
                         log=logged.append)
    assert logged == []
    assert again == StackImages(running["registry-app"].attrs["Image"], running["pypi"].attrs["Image"],
                                running["registry"].attrs["Image"])
    # uploads need the stack's login, sent through the front
    assert health(up.index)
    denied = requests.post(up.index.upload_url, auth=("release", "wrong"), data={":action": "file_upload"}, timeout=10)
    assert denied.status_code in (401, 403)


@pytest.mark.docker
@pytest.mark.slow
def test_a_failing_service_shows_its_last_log_lines(client: Any, up: Stack, tmp_path: Path) -> None:
    """A front that cannot start (the OCI registry's image in its place) stops `up` with its log."""
    running = {c.labels["com.docker.compose.service"]: c.attrs["Image"] for c in
               client.containers.list(filters={"label": f"com.docker.compose.project={up.stack.project}"})}
    broken = ComposeStack(REPO, tmp_path / "state", f"hhtest-{uuid.uuid4().hex[:8]}", free_port(), free_port())
    lines: list[str] = []
    try:
        with pytest.raises(EngineError, match=r"^the Compose service pypi exited.* and is being restarted \(its "
                           rf"last log lines are above; all of them: docker logs {broken.project}_pypi_1\)"):
            compose_up(client, broken, lambda: StackImages(running["registry-app"], running["registry"],
                                                           running["registry"]), timeout=60, log=lines.append)
    finally:
        compose_down(broken, volumes=True)
    start = lines.index("--- last 30 log lines of pypi ---")
    assert any("registry serve <config>" in line for line in lines[start:])  # docker-registry's usage text


@pytest.fixture(scope="module")
def stack_released(up: Stack, client: Any, base_image: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """Both helpers released into the stack: wheels through its front, images to its OCI registry."""
    from helperhub.core.progress import Silent
    from helperhub.images.stage import ImageSettings
    from helperhub.release.run import ImageStage, release

    root = make_repo(tmp_path_factory.mktemp("compose-release") / "repo")
    stage = ImageStage(ImageSettings(up.stack.oci_registry, base_image, up.index), client)
    release(release_settings(root, up.index), [], Silent(), stage)
    up.root = root
    return up


def pins(stack_released: Stack) -> dict[str, Any]:
    from helperhub.lock.lockfile import load_lock

    assert stack_released.root is not None
    return dict(load_lock(stack_released.root / "pins.json").packages)


@pytest.mark.docker
@pytest.mark.slow
def test_helper_installs_through_the_front_alone(stack_released: Stack, tmp_path: Path) -> None:
    pin = pins(stack_released)["tabular-helpers"]
    assert pin.index_url == stack_released.index.simple_url
    report = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(tmp_path / "site"),
         "--report", str(report), "--index-url", stack_released.index.simple_url, "--trusted-host", "127.0.0.1",
         f"tabular-helpers=={pin.version}"],
        check=True, env=clean_env() | {"PIP_CONFIG_FILE": "/dev/null"}, capture_output=True, timeout=300,
    )
    (item,) = json.loads(report.read_text())["install"]
    assert item["download_info"]["url"] == f"{stack_released.index.url}/packages/{pin.wheel}"
    assert item["download_info"]["archive_info"]["hashes"]["sha256"] == pin.sha256
    assert (tmp_path / "site" / "tabular_helpers" / "__init__.py").is_file()


def small_step(x: int) -> int:
    import tabular_helpers

    assert tabular_helpers.__version__
    return x + 1


@pytest.mark.docker
@pytest.mark.slow
def test_image_step_runs_from_the_stacks_registry(stack_released: Stack, client: Any, tmp_path: Path) -> None:
    import docker.errors
    from kfp import local

    from helperhub.lock.lockfile import load_lock
    from helperhub.pipelines.delivery import Delivery, Mode
    from helperhub.pipelines.factory import helper_component
    from helperhub.pipelines.local_run import docker_runner

    assert stack_released.root is not None
    lock = load_lock(stack_released.root / "pins.json")
    image = lock.require("tabular-helpers", fix="-").image
    assert image is not None and image.ref.startswith(f"{stack_released.stack.oci_registry}/tabular-helpers@sha256:")
    # the engine forgets the image under the stack's names, so the runner has to pull it from the stack
    for name in (image.tag, image.ref):
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(name)
    assert not any(image.ref in i.attrs.get("RepoDigests", []) or image.tag in i.tags for i in client.images.list())
    step = helper_component(small_step, helpers=["tabular-helpers"], delivery=Delivery(lock=lock, mode=Mode.IMAGE))
    root = tmp_path / "runs"
    root.mkdir()
    local.init(runner=docker_runner(Mode.IMAGE), pipeline_root=str(root), raise_on_error=True)
    assert step(x=1).output == 2
    assert image.ref in client.images.get(image.ref).attrs["RepoDigests"]


@pytest.mark.docker
@pytest.mark.slow
def test_gc_plans_with_the_shipped_policy(stack_released: Stack) -> None:
    """The stack's login is an admin of a registry serving registry/retention.toml, and its OCI
    registry takes deletes by digest (an unknown manifest is 404, not 405 Unsupported)."""
    from click.testing import CliRunner

    from helperhub.cli import cli
    from helperhub.registry.server.retention import load_policy

    index = stack_released.index
    args = ["registry", "gc", "--json", "--index-url", index.url, "--user", index.username or ""]
    out = CliRunner().invoke(cli, args, env={"HUB_INDEX_PASSWORD": index.password or ""})
    assert out.exit_code == 0, out.output
    plan = json.loads(out.output)
    assert plan["policy"] == load_policy(REPO / "registry/retention.toml").summary()
    assert (plan["applied"], plan["delete"]) == (False, [])
    assert {"tabular-helpers", "vision-helpers"} <= {k["project"] for k in plan["kept"]}
    gone = requests.delete(f"http://{stack_released.stack.oci_registry}/v2/tabular-helpers/manifests/sha256:"
                           + "0" * 64, timeout=10)
    assert gone.status_code == 404, gone.text


def served(index: IndexSettings) -> dict[str, dict[str, str]]:
    return {name: {f: item.sha256 for f, item in project_files(index, name).items()} for name in project_names(index)}


@pytest.mark.docker
@pytest.mark.slow
def test_down_and_up_keep_every_file_and_image(stack_released: Stack, client: Any, base_image: str) -> None:
    from helperhub.images.oci import remote_image

    stack, index = stack_released.stack, stack_released.index
    before = served(index)
    assert {"tabular-helpers", "vision-helpers", "kfp", "numpy"} <= set(before)
    images = {name: pin.image.ref for name, pin in pins(stack_released).items()}
    compose_down(stack)
    assert not health(index)
    assert client.containers.list(all=True, filters={"label": f"com.docker.compose.project={stack.project}"}) == []
    assert {v.name for v in client.volumes.list(filters={"label": f"com.docker.compose.project={stack.project}"})} == {
        f"{stack.project}_{v}" for v in ("packages", "images", "auth")}

    assert cli_up(stack, base_image).stdout == stack_released.exports  # the same login
    assert served(index) == before
    for name, files in before.items():
        for filename, sha256 in files.items():
            assert fetch_sha256(index, f"{index.url}/packages/{filename}") == sha256, (name, filename)
    for name, ref in images.items():
        repository, _, digest = ref.partition("@")
        found = remote_image(repository, digest)
        assert found is not None and found.digest == digest, name

