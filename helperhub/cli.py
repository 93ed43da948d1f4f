"""`helperhub`: release helper packages, serve the registry, manage pins.

Every command only parses its arguments and calls a typed function; a ``HubError`` from any of
them is printed once, as one line, with a non-zero exit.
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

import click

from registry import embedded
from registry.__main__ import serve_command
from registry.errors import HubError
from registry.project import discover, select
from registry.versions import next_version, read_version, write_version

from . import settings as s
from .ui import console


class HubGroup(click.Group):
    """Turns the project's errors into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HubError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=HubGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Share KFP helper code as released wheels and images instead of copies.

    helpers/ (sources) -> wheel -> registry (pypiserver) -> images -> pins.json -> pipelines.
    """


@cli.group(cls=HubGroup)
def registry() -> None:
    """The private package index (pypiserver)."""


registry.add_command(serve_command, "serve")


@registry.command("up")
@s.root_option
@click.option("--port", envvar="HUB_REGISTRY_PORT", type=int, default=s.DEFAULT_PORT, show_default=True,
              help="Port of the embedded registry. [env HUB_REGISTRY_PORT]")
def registry_up(root: Path | None, port: int) -> None:
    """Start the embedded registry in the background (packages under .hub/, git-ignored)."""
    reg = s.embedded_registry(s.resolve_root(root), port)
    settings = embedded.start(reg)
    console.print(f"registry: {settings.simple_url}  (packages in {reg.packages}, log {reg.logfile})")
    console.print(f"upload credentials: {reg.credentials}")


@registry.command("down")
@s.root_option
@click.option("--port", envvar="HUB_REGISTRY_PORT", type=int, default=s.DEFAULT_PORT, hidden=True)
def registry_down(root: Path | None, port: int) -> None:
    """Stop the embedded registry started from this checkout (its packages stay)."""
    stopped = embedded.stop(s.embedded_registry(s.resolve_root(root), port))
    console.print("registry stopped" if stopped else "no embedded registry was running")


@registry.command("add-user")
@click.argument("name")
@click.option("--htpasswd", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="htpasswd file to create or update.")
@click.option("--password", envvar="HUB_NEW_PASSWORD", default=None,
              help="The password (asked for if not given). [env HUB_NEW_PASSWORD]")
def registry_add_user(name: str, htpasswd: Path, password: str | None) -> None:
    """Add or change an upload user in an htpasswd file."""
    if password is None:
        password = getpass.getpass(f"password for {name}: ")
    if not password:
        raise click.BadParameter("the password is empty", param_hint="--password")
    embedded.add_user(htpasswd, name, password)
    console.print(f"{name} can now upload (file {htpasswd})")


@cli.command("bump")
@s.root_option
@click.argument("package")
@click.argument("part", default="patch")
def bump(root: Path | None, package: str, part: str) -> None:
    """Set the next version of PACKAGE in its one version source.

    PART is major, minor, patch (default) or an explicit PEP 440 version.
    """
    project = select(discover(s.resolve_root(root)), package)
    current = read_version(project.version_source)
    new = next_version(current, part)
    write_version(project.version_source, new)
    console.print(f"{project.name}: {current} -> {new} ({project.version_source})")


def main() -> None:
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    cli(prog_name="helperhub")


from . import pipeline_cmds as _pipeline_cmds  # noqa: E402,F401  (registers pins, compile, demo)
from . import release_cmd as _release_cmd  # noqa: E402,F401  (registers `release`)
