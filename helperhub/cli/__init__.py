"""`helperhub`: release helper packages, serve the registry, manage pins.

Every command only parses its arguments and calls a typed function; a ``HubError`` from any of
them is printed once, as one line, with a non-zero exit (as twine's ``__main__``).

A command's module is imported only when that command runs or shows its help (click's "lazily
loading subcommands"), so `helperhub --help` or `helperhub yank` does not pay for kfp, docker or
the release pipeline.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

import click

from helperhub.cli import config
from helperhub.core.defaults import TOOL_PROJECT
from helperhub.core.errors import HubError

ARGS = "helperhub.args"  # ctx.meta key: the command line, for the repository it names

# command name -> "module:attribute" of its click command
COMMANDS = {
    "bump": "helperhub.cli.release_cmds:bump",
    "compile": "helperhub.cli.pipeline_cmds:compile_cmd",
    "compose": "helperhub.cli.compose_cmds:compose",
    "demo": "helperhub.cli.pipeline_cmds:demo",
    "env": "helperhub.cli.env_cmds:env",
    "helpers": "helperhub.cli.helpers_cmds:helpers",
    "images": "helperhub.cli.release_cmds:images",
    "keys": "helperhub.cli.keys_cmds:keys",
    "pins": "helperhub.cli.pins_cmds:pins",
    "registry": "helperhub.cli.registry_cmds:registry",
    "release": "helperhub.cli.release_cmds:release_cmd",
    "sbom": "helperhub.cli.pipeline_cmds:sbom_cmd",
    "unyank": "helperhub.cli.yank_cmds:unyank",
    "who-pins": "helperhub.cli.pipeline_cmds:who_pins_cmd",
    "yank": "helperhub.cli.yank_cmds:yank",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported by name on first use ("module:attribute")."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module, _, attribute = self.lazy_commands[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and args[0] not in self.lazy_commands:
            for name in self.lazy_commands:  # an unknown name: click suggests from every command
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


class HubGroup(LazyGroup):
    """Turns the project's errors into one clear line and exit code 1, and gives the command that
    runs the defaults of the repository's ``[tool.helperhub]`` (``helperhub.cli.config``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGS] = tuple(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HubError as exc:
            raise click.ClickException(str(exc)) from None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name is not None and command is not None and not ctx.resilient_parsing:
            config.apply_settings(ctx, ctx.meta.get(ARGS, ()), name, command)
        return name, command, rest


@click.group(cls=HubGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name=TOOL_PROJECT, message="%(prog)s %(version)s")
def cli() -> None:
    """Share KFP helper code as released wheels and images instead of copies.

    helpers/ (sources) -> wheel -> registry (pypiserver) -> images -> pins.json -> pipelines.
    """


def main() -> None:
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    cli(prog_name="helperhub")
