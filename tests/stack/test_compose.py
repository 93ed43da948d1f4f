"""The Compose stack's pieces (docker-compose.yml through `helperhub compose`): the pure parts
(command lines, variables, export lines, messages) as exact text, and a taken port refused on the
real engine before anything starts. The stack itself, up, released into and run from, is in
tests/e2e/test_compose_stack.py."""

# no `from __future__ import annotations`: kfp reads the real types of small_step

import os
import re
import shlex
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from helperhub.core import defaults
from helperhub.core.errors import ConfigError
from helperhub.registry.client import IndexSettings
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
from helperhub.stack.compose_run import compose_up, port_clashes
from helperhub.stack.embedded import UPLOADER
from helperhub.stack.registry_image import project_sources
from helperhub.stack.stack_images import StackImages, content_key, oci_config
from tests.conftest import REPO, free_port, missing

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
    # a port other than the embedded registry's: stopping that registry would free nothing
    other = PortClash("index", 8090, "HUB_COMPOSE_INDEX_PORT", 8091)
    assert port_message([other]) == (
        "port 8090 (index) is taken on 127.0.0.1: choose a free port: HUB_COMPOSE_INDEX_PORT=8091 make compose-up"
    )


def test_default_ports_clash_with_neither_the_embedded_registry_nor_make_engine() -> None:
    """`make test` (via `make engine`) leaves an OCI registry on 5000 and `make release` the
    embedded registry on 8080: `make compose-up` after them must find its ports free."""
    engine_oci = re.search(r"OCI_ADDR=\$\{HUB_OCI_ADDR:-([0-9.]+:[0-9]+)\}", (REPO / "scripts/engine.sh").read_text())
    assert engine_oci is not None and engine_oci.group(1) == defaults.OCI_REGISTRY
    taken = {defaults.REGISTRY_PORT, int(defaults.OCI_REGISTRY.rpartition(":")[2])}
    assert taken == {8080, 5000}
    assert not {defaults.COMPOSE_INDEX_PORT, defaults.COMPOSE_OCI_PORT} & taken
    assert defaults.COMPOSE_INDEX_PORT != defaults.COMPOSE_OCI_PORT
    stack = ComposeStack(Path("/r"), Path("/s"))
    assert (stack.index_url, stack.oci_registry) == (
        f"http://127.0.0.1:{defaults.COMPOSE_INDEX_PORT}", f"127.0.0.1:{defaults.COMPOSE_OCI_PORT}")


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
    assert f"${{HUB_COMPOSE_INDEX_PORT:-{defaults.COMPOSE_INDEX_PORT}}}" in text
    assert f"${{HUB_COMPOSE_OCI_PORT:-{defaults.COMPOSE_OCI_PORT}}}" in text
    assert "${HUB_COMPOSE_HTPASSWD:?" in text
    app = services["registry-app"]
    assert app["command"][-4:] == ["--owners", "/etc/helperhub/owners.toml", "--admin", UPLOADER]
    assert "./registry/owners.toml:/etc/helperhub/owners.toml:ro" in app["volumes"]


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

        with pytest.raises(ConfigError, match=rf"^port {taken} \(index\) is taken on 127.0.0.1: choose a free port"):
            compose_up(client, stack, build)
    assert built == []  # nothing built, no login written, no container
    assert not (tmp_path / "state").exists()
    assert client.containers.list(all=True, filters={"label": f"com.docker.compose.project={stack.project}"}) == []


