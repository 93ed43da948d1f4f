"""`helperhub compose up|down`: the registry stack of docker-compose.yml (index front, registry,
OCI registry) on images this engine builds; what `make compose-up` and `make compose-down` run."""

from __future__ import annotations

from pathlib import Path

import click

from helperhub.cli import options as o
from helperhub.cli.ui import console
from helperhub.core import defaults
from helperhub.stack.compose import INDEX_PORT_ENV, OCI_PORT_ENV, ComposeStack, default_state, export_lines

project_option = click.option(
    "--project-name", "-p", "project", envvar="HUB_COMPOSE_PROJECT", default=defaults.COMPOSE_PROJECT,
    show_default=True, help="Compose project: another name runs another stack beside it. [env HUB_COMPOSE_PROJECT]",
)
PORT = click.IntRange(1, 65535)


@click.group("compose")
def compose() -> None:
    """The registry stack of docker-compose.yml: the index behind its nginx front, and an OCI registry."""


@compose.command("up")
@o.root_option
@project_option
@click.option("--index-port", envvar=INDEX_PORT_ENV, type=PORT, default=defaults.COMPOSE_INDEX_PORT,
              show_default=True, help=f"Loopback port of the index front. [env {INDEX_PORT_ENV}]")
@click.option("--oci-port", envvar=OCI_PORT_ENV, type=PORT, default=defaults.COMPOSE_OCI_PORT,
              show_default=True, help=f"Loopback port of the OCI registry. [env {OCI_PORT_ENV}]")
@click.option("--base-image", envvar="BASE_IMAGE", default=defaults.BASE_IMAGE, show_default=True,
              help="Image the stack's images are built FROM. [env BASE_IMAGE]")
@click.option("--registry-image", envvar="HUB_REGISTRY_IMAGE", default="",
              help="Run this registry image (e.g. what `make registry-image` printed) instead of building "
              "one from the checkout. [env HUB_REGISTRY_IMAGE]")
@click.option("--front-image", envvar="HUB_FRONT_IMAGE", default="",
              help="Run this nginx image (e.g. nginx:1.27-alpine) instead of building Debian's. [env HUB_FRONT_IMAGE]")
@click.option("--oci-image", envvar="HUB_OCI_IMAGE", default="",
              help="Run this OCI registry image (e.g. registry:2.8.3) instead of building Debian's. "
              "[env HUB_OCI_IMAGE]")
@click.option("--security-mirror", envvar="HUB_DEBIAN_SECURITY_MIRROR", default=defaults.DEBIAN_SECURITY_MIRROR,
              show_default=True, help="Debian security archive for the image builds; '' for none. "
              "[env HUB_DEBIAN_SECURITY_MIRROR]")
@click.option("--state", envvar="HUB_COMPOSE_STATE", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of the stack's upload login (htpasswd, credentials.json; 0600). "
              "[env HUB_COMPOSE_STATE; default: .hub/compose/<project> of the checkout]")
@o.cache_option
@click.option("--timeout", envvar="HUB_COMPOSE_TIMEOUT", type=click.IntRange(min=1), default=defaults.COMPOSE_TIMEOUT,
              show_default=True, help="Seconds for starting and passing every health check. [env HUB_COMPOSE_TIMEOUT]")
def compose_up_cmd(
    root: Path | None, project: str, index_port: int, oci_port: int, base_image: str, registry_image: str,
    front_image: str, oci_image: str, security_mirror: str, state: Path | None, cache: Path | None, timeout: int,
) -> None:
    """Build what is missing, write the upload login, start the stack and wait for its health checks.

    Prints only `export` lines on stdout, so that
    `eval "$(make -s compose-up)" && make release` releases into the stack."""
    from helperhub.images.engine import docker_client
    from helperhub.stack.compose_run import compose_up as up
    from helperhub.stack.stack_images import StackImages, stack_images

    repo = o.resolve_root(root)
    stack = ComposeStack(repo, (state or default_state(repo, project)).resolve(), project, index_port, oci_port)
    client = docker_client()
    given = StackImages(registry_image, front_image, oci_image)

    def log(line: str) -> None:
        console.print(line, markup=False, soft_wrap=True)

    index = up(client, stack, lambda: stack_images(
        client, repo, base_image, cache or defaults.cache_dir(), given=given, security_mirror=security_mirror, log=log,
    ), timeout=timeout, log=log)
    click.echo(export_lines(index, stack.oci_registry), nl=False)


@compose.command("down")
@o.root_option
@project_option
@click.option("--volumes", is_flag=True, help="Also delete the stack's volumes: its packages and images.")
def compose_down_cmd(root: Path | None, project: str, volumes: bool) -> None:
    """Stop the stack and remove its containers; its volumes stay (unless --volumes)."""
    from helperhub.stack.compose_run import compose_down as down

    repo = o.resolve_root(root)
    down(ComposeStack(repo, default_state(repo, project), project), volumes=volumes)
    console.print(f"stack {project} stopped" + (" and its volumes deleted" if volumes else "; its volumes stay"))
