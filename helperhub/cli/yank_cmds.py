"""`helperhub yank` and `unyank`: take a broken release out of every range, or put it back."""

from __future__ import annotations

from pathlib import Path

import click

from helperhub.cli import options as o
from helperhub.cli.ui import results


@click.command("yank")
@o.root_option
@o.index_options
@click.argument("name")
@click.argument("version")
@click.option("--reason", default=None, help="Why (shown by pip and uv to whoever still installs it).")
def yank(root: Path | None, index_url: str | None, index_user: str | None, index_password: str | None,
         registry_port: int, name: str, version: str, reason: str | None) -> None:
    """Yank NAME VERSION (PEP 592): ranges skip it, `==VERSION` and pins still install it.

    Needs the upload login of a user who owns NAME on the index."""
    from helperhub.registry.client import set_yanked

    index = o.any_index(root, index_url, index_user, index_password, registry_port)
    results.print(set_yanked(index, name, version, reason))


@click.command("unyank")
@o.root_option
@o.index_options
@click.argument("name")
@click.argument("version")
def unyank(root: Path | None, index_url: str | None, index_user: str | None, index_password: str | None,
           registry_port: int, name: str, version: str) -> None:
    """Undo a yank of NAME VERSION."""
    from helperhub.registry.client import set_yanked

    index = o.any_index(root, index_url, index_user, index_password, registry_port)
    results.print(set_yanked(index, name, version, undo=True))
