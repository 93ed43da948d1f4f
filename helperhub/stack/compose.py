"""docker-compose.yml as the project runs it: one Compose project per stack, the variables the
file reads, and the lines the user sees. Pure: ``helperhub.stack.compose_run`` runs them.

Compose v1 (Debian's docker-compose 1.29) and v2 take the same command lines.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from helperhub.core import defaults
from helperhub.core.errors import ConfigError

if TYPE_CHECKING:  # the CLI imports this module for its option names; requests stays out of it
    from helperhub.registry.client import IndexSettings
    from helperhub.stack.stack_images import StackImages

HOST = "127.0.0.1"  # the stack publishes its ports on loopback only
INDEX_PORT_ENV, OCI_PORT_ENV = "HUB_COMPOSE_INDEX_PORT", "HUB_COMPOSE_OCI_PORT"
IMAGE_ENVS = ("HUB_REGISTRY_IMAGE", "HUB_FRONT_IMAGE", "HUB_OCI_IMAGE")
HTPASSWD_ENV = "HUB_COMPOSE_HTPASSWD"
# What down and logs interpolate the image variables with: they start nothing, but Compose refuses
# a file whose required variables are unset.
IDLE_IMAGE = "unused"
PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


@dataclass(frozen=True)
class ComposeStack:
    """One stack of docker-compose.yml: its Compose project, host ports and login files."""

    root: Path  # the checkout holding docker-compose.yml
    state: Path  # git-ignored: htpasswd and credentials.json, 0600
    project: str = defaults.COMPOSE_PROJECT
    index_port: int = defaults.COMPOSE_INDEX_PORT
    oci_port: int = defaults.COMPOSE_OCI_PORT

    def __post_init__(self) -> None:
        if not PROJECT_NAME.fullmatch(self.project):
            raise ConfigError(
                f"the Compose project name {self.project!r} is not lower-case letters, digits, - and _; "
                "choose one like helperhub-test"
            )
        if self.index_port == self.oci_port:
            raise ConfigError(
                f"the index and the OCI registry cannot share port {self.index_port}; "
                f"give {INDEX_PORT_ENV} and {OCI_PORT_ENV} two ports"
            )

    @property
    def compose_file(self) -> Path:
        return self.root / defaults.COMPOSE_FILE

    @property
    def htpasswd(self) -> Path:
        return self.state / "htpasswd"

    @property
    def index_url(self) -> str:
        return f"http://{HOST}:{self.index_port}"

    @property
    def oci_registry(self) -> str:
        return f"{HOST}:{self.oci_port}"


def default_state(root: Path, project: str) -> Path:
    """Where a stack's logins live: the checkout's git-ignored state folder."""
    return root / defaults.STATE_DIR / "compose" / project


def compose_command(stack: ComposeStack, *args: str) -> list[str]:
    return ["docker-compose", "--project-name", stack.project, "--file", str(stack.compose_file), *args]


def up_command(stack: ComposeStack) -> list[str]:
    return compose_command(stack, "up", "--detach", "--remove-orphans")


def down_command(stack: ComposeStack, *, volumes: bool = False) -> list[str]:
    return compose_command(stack, "down", *(["--volumes"] if volumes else []))


def services_command(stack: ComposeStack) -> list[str]:
    return compose_command(stack, "config", "--services")


def compose_env(stack: ComposeStack, images: StackImages | None = None) -> dict[str, str]:
    """The variables docker-compose.yml reads; without ``images`` for commands that start nothing."""
    chosen = (images.registry, images.front, images.oci) if images else (IDLE_IMAGE,) * 3
    return {
        **dict(zip(IMAGE_ENVS, chosen, strict=True)),
        INDEX_PORT_ENV: str(stack.index_port),
        OCI_PORT_ENV: str(stack.oci_port),
        HTPASSWD_ENV: str(stack.htpasswd.resolve()),
    }


def export_lines(index: IndexSettings, oci_registry: str) -> str:
    """What `eval "$(make -s compose-up)"` sets, so that `make release` releases into the stack."""
    values = {
        "HUB_INDEX_URL": index.url,
        "HUB_INDEX_USER": index.username or "",
        "HUB_INDEX_PASSWORD": index.password or "",
        "HUB_OCI_REGISTRY": oci_registry,
    }
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in values.items())


@dataclass(frozen=True)
class PortClash:
    what: str  # "index", "OCI registry"
    port: int
    envvar: str  # the variable that moves it
    free: int  # a port that was free when checked


def port_message(clashes: Sequence[PortClash]) -> str:
    """One line: which ports are taken, and the two ways out."""
    many = len(clashes) > 1
    ports = ", ".join(f"{c.port} ({c.what})" for c in clashes)
    # only the embedded registry's own port is worth naming it for: `make registry-down` frees no other
    stop = "stop the embedded registry (`make registry-down`) or " if any(
        c.envvar == INDEX_PORT_ENV and c.port == defaults.REGISTRY_PORT for c in clashes) else ""
    choose = " ".join(f"{c.envvar}={c.free}" for c in clashes)
    return (f"port{'s' if many else ''} {ports} {'are' if many else 'is'} taken on {HOST}: "
            f"{stop}choose {'free ports' if many else 'a free port'}: {choose} make compose-up")


@dataclass(frozen=True)
class ServiceState:
    """A service's container as the engine reports it."""

    service: str
    status: str  # created, running, restarting, exited, dead ("missing": no container)
    health: str = ""  # starting, healthy, unhealthy; "" without a health check
    exit_code: int = 0  # of its last run
    restarts: int = 0  # by its restart policy, after it exited
    container: str = ""  # its name, for `docker logs`


def is_ready(state: ServiceState) -> bool:
    """Healthy; or, without a health check, running or done (a one-shot service that exited 0)."""
    if state.health:
        return state.status == "running" and state.health == "healthy"
    return state.status == "running" or (state.status == "exited" and state.exit_code == 0)


def problem(state: ServiceState) -> str | None:
    """What went wrong for good (no point in waiting longer); None while it may still come up."""
    if is_ready(state):
        return None
    if state.status in ("exited", "dead") and (state.health or state.exit_code != 0):
        return f"exited with code {state.exit_code}"
    if state.status == "restarting" or state.restarts:
        code = f" with code {state.exit_code}" if state.exit_code else ""
        return f"exited{code} and is being restarted"
    if state.health == "unhealthy":
        return "failed its health check"
    return None


def failure_message(state: ServiceState, what: str) -> str:
    logs = f"; all of them: docker logs {state.container}" if state.container else ""
    return (f"the Compose service {state.service} {what} (its last log lines are above{logs}); "
            "fix it and run `make compose-up` again")
