"""Start and stop a stack of docker-compose.yml with docker-compose: ports checked before anything
starts, logins written once (0600, git-ignored), images built when missing, health checks
awaited, and the last log lines of a service that fails them shown."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from helperhub.core import defaults
from helperhub.core.errors import ConfigError, EngineError
from helperhub.registry.client import IndexSettings
from helperhub.stack.compose import (
    INDEX_PORT_ENV,
    OCI_PORT_ENV,
    ComposeStack,
    PortClash,
    ServiceState,
    compose_env,
    down_command,
    failure_message,
    is_ready,
    port_message,
    problem,
    services_command,
    up_command,
)
from helperhub.stack.embedded import EmbeddedRegistry, ensure_credentials
from helperhub.stack.stack_images import StackImages

Log = Callable[[str], None]
PROJECT_LABEL, SERVICE_LABEL = "com.docker.compose.project", "com.docker.compose.service"


def require_compose() -> None:
    if shutil.which("docker-compose") is None:
        raise EngineError(
            "docker-compose is not installed; run `make engine` (it installs Debian's docker-compose) "
            "or apt-get install docker-compose"
        )


def _compose(cmd: Sequence[str], env: Mapping[str, str], *, timeout: float, capture: bool = False) -> str:
    """Run docker-compose; its progress goes to stderr (stdout is the caller's export lines)."""
    proc = subprocess.run(
        list(cmd), env={**os.environ, **env}, text=True, timeout=timeout,
        stdout=subprocess.PIPE if capture else sys.stderr, stderr=subprocess.PIPE if capture else None,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or "").strip().splitlines()[-1:] if capture else []
        raise EngineError(
            f"{shlex.join(cmd)} failed with exit code {proc.returncode}"
            + (f" ({detail[0]})" if detail else "; its output is above")
        )
    return proc.stdout if capture else ""


def _containers(client: Any, stack: ComposeStack) -> list[Any]:
    found = client.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={stack.project}"})
    return [c for c in found if c.labels.get("com.docker.compose.oneoff", "False") != "True"]


def _state(container: Any) -> ServiceState:
    state = container.attrs["State"]
    return ServiceState(container.labels[SERVICE_LABEL], state["Status"], (state.get("Health") or {}).get("Status", ""),
                        int(state.get("ExitCode", 0)), int(container.attrs.get("RestartCount", 0)), container.name)


def service_states(client: Any, stack: ComposeStack, services: Sequence[str]) -> list[ServiceState]:
    by_service = {c.labels.get(SERVICE_LABEL): c for c in _containers(client, stack)}
    return [_state(by_service[s]) if s in by_service else ServiceState(s, "missing") for s in services]


def _port_free(port: int) -> bool:
    """Nothing listens on it. SO_REUSEADDR, as the servers that will bind it set it: connections
    that just closed (TIME_WAIT) do not count."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_clashes(client: Any, stack: ComposeStack) -> list[PortClash]:
    """The stack's ports that something else holds (the stack's own running containers do not count)."""
    own = {int(binding["HostPort"]) for c in _containers(client, stack) if c.status == "running"
           for bindings in (c.ports or {}).values() for binding in bindings or []}
    wanted = [("index", stack.index_port, INDEX_PORT_ENV), ("OCI registry", stack.oci_port, OCI_PORT_ENV)]
    clashes: list[PortClash] = []
    for what, port, envvar in wanted:
        if port in own or _port_free(port):
            continue
        avoid = {stack.index_port, stack.oci_port, *(c.free for c in clashes)}
        free = next((p for p in range(port + 1, min(port + 200, 65536)) if p not in avoid and _port_free(p)), 0)
        clashes.append(PortClash(what, port, envvar, free))
    return clashes


def credentials(stack: ComposeStack) -> IndexSettings:
    """The stack's upload login: generated once, as the embedded registry's (htpasswd and
    credentials.json in the stack's state folder, mode 0600)."""
    user, password = ensure_credentials(EmbeddedRegistry(state=stack.state))
    return IndexSettings(stack.index_url, user, password)


def _show_logs(client: Any, stack: ComposeStack, service: str, log: Log, lines: int) -> None:
    for container in _containers(client, stack):
        if container.labels.get(SERVICE_LABEL) == service:
            text = container.logs(tail=lines, stdout=True, stderr=True).decode(errors="replace").rstrip()
            log(f"--- last {lines} log lines of {service} ---")
            for line in text.splitlines() or ["(no output)"]:
                log(line)


def wait_ready(
    client: Any, stack: ComposeStack, services: Sequence[str], *, timeout: float, log: Log,
    started: float | None = None, lines: int = defaults.COMPOSE_LOG_LINES,
) -> None:
    """Return once every service is ready, at most ``timeout`` seconds after ``started`` (monotonic;
    default now); else show the failing service's last log lines and raise."""
    deadline = (time.monotonic() if started is None else started) + timeout
    while True:
        states = service_states(client, stack, services)
        failed = _failure(states)
        if failed is None and all(is_ready(s) for s in states):
            return
        if failed is None and time.monotonic() > deadline:
            late = next(s for s in states if not is_ready(s))
            failed = (late, f"is not ready after {timeout:.0f} s ({late.status}, {late.health or 'no health check'})")
        if failed is not None:
            _fail(client, stack, *failed, log=log, lines=lines)
        time.sleep(0.5)


def _failure(states: Sequence[ServiceState]) -> tuple[ServiceState, str] | None:
    return next(((s, what) for s in states if (what := problem(s))), None)


def _fail(client: Any, stack: ComposeStack, state: ServiceState, what: str, *, log: Log, lines: int) -> NoReturn:
    _show_logs(client, stack, state.service, log, lines)
    raise EngineError(failure_message(state, what))


def compose_up(
    client: Any, stack: ComposeStack, images: Callable[[], StackImages], *,
    timeout: float = defaults.COMPOSE_TIMEOUT, log: Log = lambda _line: None,
) -> IndexSettings:
    """Start the stack (idempotent) and return how to upload to its index; ``images`` builds or
    finds what the services run, once the ports are known to be free."""
    require_compose()
    if not stack.compose_file.is_file():
        raise ConfigError(f"{stack.compose_file} is missing; run from a checkout of the project or give --root")
    clashes = port_clashes(client, stack)
    if clashes:
        raise ConfigError(port_message(clashes))
    index = credentials(stack)
    env = compose_env(stack, images())
    services = _compose(services_command(stack), env, timeout=60, capture=True).split()
    log(f"starting Compose project {stack.project}: {', '.join(services)}")
    started = time.monotonic()
    try:
        _compose(up_command(stack), env, timeout=timeout)
    except subprocess.TimeoutExpired:
        pass  # wait_ready names the service that holds it up
    except EngineError:
        failed = _failure(service_states(client, stack, services))  # a one-shot that failed, say
        if failed is not None:
            _fail(client, stack, *failed, log=log, lines=defaults.COMPOSE_LOG_LINES)
        raise
    wait_ready(client, stack, services, timeout=timeout, started=started, log=log)
    log(f"stack {stack.project} is up: index {index.simple_url}, OCI registry {stack.oci_registry}")
    return index


def compose_down(stack: ComposeStack, *, volumes: bool = False, timeout: float = defaults.COMPOSE_TIMEOUT) -> None:
    """Stop and remove the stack's containers and network; its volumes stay unless ``volumes``."""
    require_compose()
    _compose(down_command(stack, volumes=volumes), compose_env(stack), timeout=timeout)
