"""The Compose stack (docker-compose.yml through `helperhub compose`) on the real engine: built
from images this engine makes, released into, installed from through its front, an image-mode
step pulled from its OCI registry, and everything still served after down and up.
The pure parts (command lines, variables, export lines, messages) as exact text."""

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
import yaml

from helperhub.core.defaults import cache_dir
from helperhub.core.errors import ConfigError, EngineError
from helperhub.registry.client import IndexSettings, fetch_sha256, health, project_files, project_names
from helperhub.stack.compose import (
    IMAGE_ENVS,
    ComposeStack,
    PortClash,
    ServiceState,
    compose_env,
    down_command,
    export_lines,
    failure_message,
    is_ready,
    port_message,
    problem,
    services_command,
    up_command,
)
from helperhub.stack.compose_run import compose_down, compose_up, port_clashes
from helperhub.stack.registry_image import project_sources
from helperhub.stack.stack_images import StackImages, content_key, oci_config, stack_images
from tests.conftest import FIXED_DATE, REPO, clean_env, free_port, git, make_repo, missing, release_settings

STACK = ComposeStack(Path("/src/hub"), Path("/src/hub/.hub/compose/t1"), "t1", 18080, 15000)


# -- pure -----------------------------------------------------------------------------------------

def test_command_lines() -> None:
    base = ["docker-compose", "--project-name", "t1", "--file", "/src/hub/docker-compose.yml"]
    assert up_command(STACK) == [*base, "up", "--detach", "--remove-orphans"]
    assert down_command(STACK) == [*base, "down"]
    assert down_command(STACK, volumes=True) == [*base, "down", "--volumes"]
    assert services_command(STACK) == [*base, "config", "--services"]


def test_compose_env() -> None:
    images = StackImages("sha256:" + "a" * 64, "nginx:1.27-alpine", "sha256:" + "c" * 64)
    common = {"HUB_COMPOSE_INDEX_PORT": "18080", "HUB_COMPOSE_OCI_PORT": "15000",
              "HUB_COMPOSE_HTPASSWD": "/src/hub/.hub/compose/t1/htpasswd"}
    assert compose_env(STACK, images) == {
        "HUB_REGISTRY_IMAGE": "sha256:" + "a" * 64, "HUB_FRONT_IMAGE": "nginx:1.27-alpine",
        "HUB_OCI_IMAGE": "sha256:" + "c" * 64, **common,
    }
    assert compose_env(STACK) == {"HUB_REGISTRY_IMAGE": "unused", "HUB_FRONT_IMAGE": "unused",
                                  "HUB_OCI_IMAGE": "unused", **common}


def test_export_lines_survive_eval() -> None:
    index = IndexSettings("http://127.0.0.1:18080", "release", "pa ss'w$rd")
    text = export_lines(index, "127.0.0.1:15000")
    assert text == (
        "export HUB_INDEX_URL=http://127.0.0.1:18080\n"
        "export HUB_INDEX_USER=release\n"
        "export HUB_INDEX_PASSWORD='pa ss'\"'\"'w$rd'\n"
        "export HUB_OCI_REGISTRY=127.0.0.1:15000\n"
    )
    shown = subprocess.run(["bash", "-c", f'eval {shlex.quote(text)}; printf "%s|" "$HUB_INDEX_PASSWORD" '
                            '"$HUB_INDEX_URL" "$HUB_OCI_REGISTRY"'], check=True, capture_output=True, text=True)
    assert shown.stdout == "pa ss'w$rd|http://127.0.0.1:18080|127.0.0.1:15000|"


def test_port_messages() -> None:
    index = PortClash("index", 8080, "HUB_COMPOSE_INDEX_PORT", 8081)
    oci = PortClash("OCI registry", 5000, "HUB_COMPOSE_OCI_PORT", 5002)
    assert port_message([index]) == (
        "port 8080 (index) is taken on 127.0.0.1: stop the embedded registry (`make registry-down`) or "
        "choose a free port: HUB_COMPOSE_INDEX_PORT=8081 make compose-up"
    )
    assert port_message([oci]) == (
        "port 5000 (OCI registry) is taken on 127.0.0.1: choose a free port: HUB_COMPOSE_OCI_PORT=5002 make compose-up"
    )
    assert port_message([index, oci]) == (
        "ports 8080 (index), 5000 (OCI registry) are taken on 127.0.0.1: stop the embedded registry "
        "(`make registry-down`) or choose free ports: HUB_COMPOSE_INDEX_PORT=8081 HUB_COMPOSE_OCI_PORT=5002 "
        "make compose-up"
    )


@pytest.mark.parametrize(("state", "ready", "why"), [
    (ServiceState("app", "running", "healthy"), True, None),
    (ServiceState("app", "running", "starting"), False, None),
    (ServiceState("app", "created"), False, None),
    (ServiceState("app", "missing"), False, None),
    (ServiceState("auth", "exited"), True, None),  # a one-shot service that is done
    (ServiceState("auth", "exited", exit_code=2), False, "exited with code 2"),
    (ServiceState("app", "exited", "unhealthy", exit_code=0), False, "exited with code 0"),
    (ServiceState("app", "running", "unhealthy"), False, "failed its health check"),
    (ServiceState("app", "restarting", "starting", exit_code=1), False, "exited with code 1 and is being restarted"),
    (ServiceState("app", "running", "starting", restarts=2), False, "exited and is being restarted"),
    (ServiceState("app", "running", "healthy", restarts=2), True, None),  # restarted once, fine now
])
def test_service_states(state: ServiceState, ready: bool, why: str | None) -> None:
    assert is_ready(state) is ready
    assert problem(state) == why


def test_failure_message() -> None:
    state = ServiceState("pypi", "running", "unhealthy", container="t1_pypi_1")
    assert failure_message(state, "failed its health check") == (
        "the Compose service pypi failed its health check (its last log lines are above; all of them: "
        "docker logs t1_pypi_1); fix it and run `make compose-up` again"
    )


def test_stack_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"'Hub Test' is not lower-case"):
        ComposeStack(Path("/r"), Path("/s"), "Hub Test")
    with pytest.raises(ConfigError, match=r"cannot share port 9000; give HUB_COMPOSE_INDEX_PORT"):
        ComposeStack(Path("/r"), Path("/s"), "t", 9000, 9000)


def test_content_key_and_oci_config() -> None:
    assert content_key([b"ab", b"c"]) != content_key([b"a", b"bc"])
    assert content_key([b"x"]) == content_key([b"x"]) and len(content_key([b"x"])) == 20
    assert oci_config() == (
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n"
        "  delete:\n    enabled: false\nhttp:\n  addr: :5000\n"
    )


def test_registry_image_key_reads_the_wheel_sources() -> None:
    sources = {str(p) for p in project_sources(REPO)}
    assert {"pyproject.toml", "README.md", "helperhub/registry/server/app.py",
            "helperhub/stack/registry.Dockerfile"} <= sources
    assert not any("__pycache__" in s or s.endswith(".pyc") for s in sources)


def test_compose_file_runs_what_the_cli_sets() -> None:
    """Every service runs an image the CLI chooses (none from a public registry by default), has a
    restart policy, and a health check unless it is the one-shot login copy."""
    text = (REPO / "docker-compose.yml").read_text()
    services = yaml.safe_load(text)["services"]
    assert sorted(services) == ["pypi", "registry", "registry-app", "registry-auth"]
    for name, service in services.items():
        assert service["image"].startswith("${HUB_") and service["image"].split(":?")[0][2:] in IMAGE_ENVS, name
        assert service["restart"] == ("no" if name == "registry-auth" else "unless-stopped")
        assert ("healthcheck" in service) is (name != "registry-auth"), name
    assert "${HUB_COMPOSE_INDEX_PORT:-8080}" in text and "${HUB_COMPOSE_OCI_PORT:-5000}" in text
    assert "${HUB_COMPOSE_HTPASSWD:?" in text
    assert services["registry-app"]["command"][-2:] == ["--owners", "/etc/helperhub/owners.toml"]
    assert "./registry/owners.toml:/etc/helperhub/owners.toml:ro" in services["registry-app"]["volumes"]


def test_compose_v1_accepts_the_file() -> None:
    require_compose()
    stack = ComposeStack(REPO, Path("/nonexistent"), "t1", 18080, 15000)
    images = StackImages("sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64)
    out = subprocess.run([*services_command(stack)[:-1]], env={**os.environ, **compose_env(stack, images)},
                         check=True, capture_output=True, text=True).stdout
    resolved = yaml.safe_load(out)["services"]
    assert {name: s["image"] for name, s in resolved.items()} == {
        "registry-auth": images.registry, "registry-app": images.registry, "pypi": images.front, "registry": images.oci}
    assert resolved["pypi"]["ports"] == ["127.0.0.1:18080:8080/tcp"]
    assert resolved["registry"]["ports"] == ["127.0.0.1:15000:5000/tcp"]
    assert f"{REPO}/registry/nginx/compose.conf:/etc/nginx/helperhub.conf:ro" in resolved["pypi"]["volumes"]
    assert "/nonexistent/htpasswd:/run/htpasswd:ro" in resolved["registry-auth"]["volumes"]


# -- on the engine --------------------------------------------------------------------------------

def require_compose() -> None:
    if not any((Path(p) / "docker-compose").is_file() for p in os.environ["PATH"].split(os.pathsep)):
        missing("docker-compose is not installed (`make engine` installs it)")


@pytest.mark.docker
def test_taken_port_is_refused_before_anything_starts(client: Any, tmp_path: Path) -> None:
    import socket

    require_compose()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        stack = ComposeStack(REPO, tmp_path / "state", f"hhtest-{uuid.uuid4().hex[:8]}", taken, free_port())
        clashes = port_clashes(client, stack)
        assert [(c.what, c.port, c.envvar) for c in clashes] == [("index", taken, "HUB_COMPOSE_INDEX_PORT")]
        assert clashes[0].free not in (taken, 0, stack.oci_port)
        built: list[str] = []

        def build() -> StackImages:
            built.append("called")
            return StackImages("", "", "")

        with pytest.raises(ConfigError, match=rf"^port {taken} \(index\) is taken on 127.0.0.1: stop"):
            compose_up(client, stack, build)
    assert built == []  # nothing built, no login written, no container
    assert not (tmp_path / "state").exists()
    assert client.containers.list(all=True, filters={"label": f"com.docker.compose.project={stack.project}"}) == []


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
    mounted = [Path("docker-compose.yml"), Path("registry/nginx/compose.conf"), Path("registry/owners.toml")]
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
def released(up: Stack, client: Any, base_image: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """Both helpers released into the stack: wheels through its front, images to its OCI registry."""
    from helperhub.core.progress import Silent
    from helperhub.images.stage import ImageSettings
    from helperhub.release.run import ImageStage, release

    root = make_repo(tmp_path_factory.mktemp("compose-release") / "repo")
    stage = ImageStage(ImageSettings(up.stack.oci_registry, base_image, up.index), client)
    release(release_settings(root, up.index), [], Silent(), stage)
    up.root = root
    return up


def pins(released: Stack) -> dict[str, Any]:
    from helperhub.lock.lockfile import load_lock

    assert released.root is not None
    return dict(load_lock(released.root / "pins.json").packages)


@pytest.mark.docker
@pytest.mark.slow
def test_helper_installs_through_the_front_alone(released: Stack, tmp_path: Path) -> None:
    pin = pins(released)["tabular-helpers"]
    assert pin.index_url == released.index.simple_url
    report = tmp_path / "report.json"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(tmp_path / "site"),
         "--report", str(report), "--index-url", released.index.simple_url, "--trusted-host", "127.0.0.1",
         f"tabular-helpers=={pin.version}"],
        check=True, env=clean_env() | {"PIP_CONFIG_FILE": "/dev/null"}, capture_output=True, timeout=300,
    )
    (item,) = json.loads(report.read_text())["install"]
    assert item["download_info"]["url"] == f"{released.index.url}/packages/{pin.wheel}"
    assert item["download_info"]["archive_info"]["hashes"]["sha256"] == pin.sha256
    assert (tmp_path / "site" / "tabular_helpers" / "__init__.py").is_file()


def small_step(x: int) -> int:
    import tabular_helpers

    assert tabular_helpers.__version__
    return x + 1


@pytest.mark.docker
@pytest.mark.slow
def test_image_step_runs_from_the_stacks_registry(released: Stack, client: Any, tmp_path: Path) -> None:
    import docker.errors
    from kfp import local

    from helperhub.lock.lockfile import load_lock
    from helperhub.pipelines.delivery import Delivery, Mode
    from helperhub.pipelines.factory import helper_component
    from helperhub.pipelines.local_run import docker_runner

    assert released.root is not None
    lock = load_lock(released.root / "pins.json")
    image = lock.require("tabular-helpers", fix="-").image
    assert image is not None and image.ref.startswith(f"{released.stack.oci_registry}/tabular-helpers@sha256:")
    # the engine forgets the image under the stack's names, so the runner has to pull it from the stack
    for name in (image.tag, image.ref):
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.images.remove(name)
    assert not any(image.ref in i.attrs.get("RepoDigests", []) or image.tag in i.tags for i in client.images.list())
    step = helper_component(small_step, helpers=["tabular-helpers"], delivery=Delivery(lock=lock, mode=Mode.IMAGE))
    root = tmp_path / "runs"
    root.mkdir()
    local.init(runner=docker_runner(Mode.IMAGE, root), pipeline_root=str(root), raise_on_error=True)
    assert step(x=1).output == 2
    assert image.ref in client.images.get(image.ref).attrs["RepoDigests"]


def served(index: IndexSettings) -> dict[str, dict[str, str]]:
    return {name: {f: item.sha256 for f, item in project_files(index, name).items()} for name in project_names(index)}


@pytest.mark.docker
@pytest.mark.slow
def test_down_and_up_keep_every_file_and_image(released: Stack, client: Any, base_image: str) -> None:
    from helperhub.images.oci import remote_image

    stack, index = released.stack, released.index
    before = served(index)
    assert {"tabular-helpers", "vision-helpers", "kfp", "numpy"} <= set(before)
    images = {name: pin.image.ref for name, pin in pins(released).items()}
    compose_down(stack)
    assert not health(index)
    assert client.containers.list(all=True, filters={"label": f"com.docker.compose.project={stack.project}"}) == []
    assert {v.name for v in client.volumes.list(filters={"label": f"com.docker.compose.project={stack.project}"})} == {
        f"{stack.project}_{v}" for v in ("packages", "images", "auth")}

    assert cli_up(stack, base_image).stdout == released.exports  # the same login
    assert served(index) == before
    for name, files in before.items():
        for filename, sha256 in files.items():
            assert fetch_sha256(index, f"{index.url}/packages/{filename}") == sha256, (name, filename)
    for name, ref in images.items():
        repository, _, digest = ref.partition("@")
        found = remote_image(repository, digest)
        assert found is not None and found.digest == digest, name
