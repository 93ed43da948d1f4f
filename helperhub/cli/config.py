"""The repository's ``[tool.helperhub]`` as click defaults: flag, then its environment variable,
then ``pyproject.toml``, then ``helperhub.core.defaults`` -- click's own order once the settings
are in the context's ``default_map``, so no command resolves precedence by hand."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from helperhub.core.settings import KEYS, repository_settings

# the settings a flag can take from pyproject.toml: every parameter of this name, in any command
PARAMS = tuple(KEYS.values())
ROOT_FLAG, ROOT_ENV = "--root", "HUB_ROOT"


def root_hint(args: Sequence[str]) -> Path | None:
    """The ``--root`` of the command line (any subcommand's), else ``HUB_ROOT``: read before
    click parses the subcommand, whose defaults depend on the repository it names."""
    for i, arg in enumerate(args):
        if arg == "--":
            break
        if arg == ROOT_FLAG and i + 1 < len(args):
            return Path(args[i + 1])
        if arg.startswith(f"{ROOT_FLAG}="):
            return Path(arg.split("=", 1)[1])
    env = os.environ.get(ROOT_ENV)
    return Path(env) if env else None


def default_map(command: click.Command, settings: Mapping[str, Any]) -> dict[str, Any]:
    """click's ``default_map`` for ``command`` and every subcommand: each parameter named like a
    setting (``oci_registry``, ...) gets the setting's value, e.g. ``{"pins": {"bump": {...}}}``."""
    values = setting_values(settings)
    return _walk(command, values) if values else {}


def setting_values(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a parameter can take, by parameter name."""
    return {name: settings[name] for name in PARAMS if name in settings}


def _walk(command: click.Command, values: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {p.name: values[p.name] for p in command.params if p.name in values}
    if isinstance(command, click.Group):
        ctx = click.Context(command)  # a lazy group imports its subcommands through the context's API
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and (nested := _walk(sub, values)):
                out[name] = nested
    return out


def merged(given: Mapping[str, Any] | None, settings: Mapping[str, Any]) -> dict[str, Any]:
    """``settings``' map under a ``default_map`` given to the command explicitly (which wins)."""
    out = dict(settings)
    for key, value in (given or {}).items():
        old = out.get(key)
        out[key] = merged(value, old) if isinstance(value, Mapping) and isinstance(old, Mapping) else value
    return out


def apply_settings(ctx: click.Context, args: Sequence[str], name: str, command: click.Command) -> None:
    """Fill ``ctx.default_map`` for the subcommand ``name`` about to run, from the repository of
    ``--root``/``HUB_ROOT``/the current folder; only that command is walked, so the others stay
    unimported."""
    values = setting_values(repository_settings(root_hint(args) or Path.cwd()))
    if values and (nested := _walk(command, values)):
        ctx.default_map = merged(ctx.default_map, {name: nested})
