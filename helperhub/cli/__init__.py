"""`helperhub`: release helper packages, serve the registry, manage pins.

Every command only parses its arguments and calls a typed function; a ``HubError`` from any of
them is printed once, as one line, with a non-zero exit (as twine's ``__main__``).
"""

from __future__ import annotations

import os
from typing import Any

import click

from helperhub.cli import config
from helperhub.cli.compose_cmds import compose
from helperhub.cli.helpers_cmds import helpers
from helperhub.cli.pipeline_cmds import compile_cmd, demo, pins, who_pins_cmd
from helperhub.cli.registry_cmds import registry
from helperhub.cli.release_cmds import bump, images, release_cmd
from helperhub.cli.yank_cmds import unyank, yank
from helperhub.core.errors import HubError

ARGS = "helperhub.args"  # ctx.meta key: the command line, for the repository it names


class HubGroup(click.Group):
    """Turns the project's errors into one clear line and exit code 1, and gives every command
    the defaults of the repository's ``[tool.helperhub]`` (``helperhub.cli.config``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGS] = tuple(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            config.apply_settings(ctx, ctx.meta.get(ARGS, ()))
            return super().invoke(ctx)
        except HubError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=HubGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Share KFP helper code as released wheels and images instead of copies.

    helpers/ (sources) -> wheel -> registry (pypiserver) -> images -> pins.json -> pipelines.
    """


for command in (registry, release_cmd, images, bump, yank, unyank, pins, who_pins_cmd, compile_cmd, demo, helpers,
                compose):
    cli.add_command(command)


def main() -> None:
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    cli(prog_name="helperhub")
