"""Settings shared by several commands, built once from flags (each with its env var)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from registry import embedded
from registry.__main__ import DEFAULT_PORT as DEFAULT_PORT
from registry.gitinfo import repo_root
from registry.index import IndexSettings

F = TypeVar("F", bound=Callable[..., Any])


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "helperhub"


def root_option(f: F) -> F:
    return click.option(
        "--root", envvar="HUB_ROOT", type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Repository root (helpers/, pins.json). [env HUB_ROOT; default: the checkout of the current folder]",
    )(f)


def index_options(f: F) -> F:
    options = [
        click.option("--index-url", envvar="HUB_INDEX_URL", default=None,
                     help="Base URL of the private index. "
                     "[env HUB_INDEX_URL; default: the embedded registry, started if needed]"),
        click.option("--user", "index_user", envvar="HUB_INDEX_USER", default=None,
                     help="Upload user. [env HUB_INDEX_USER]"),
        click.option("--password", "index_password", envvar="HUB_INDEX_PASSWORD", default=None,
                     help="Upload password. [env HUB_INDEX_PASSWORD]"),
        click.option("--registry-port", envvar="HUB_REGISTRY_PORT", type=int, default=DEFAULT_PORT,
                     show_default=True, help="Port of the embedded registry. [env HUB_REGISTRY_PORT]"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def resolve_root(root: Path | None) -> Path:
    return repo_root(root or Path.cwd())


def embedded_registry(root: Path, port: int) -> embedded.EmbeddedRegistry:
    return embedded.EmbeddedRegistry(state=root / ".hub", port=port)


def index_settings(
    root: Path, index_url: str | None, user: str | None, password: str | None, port: int,
    *, start: bool = True,
) -> IndexSettings:
    """The configured index, or the embedded one (started when ``start``)."""
    if index_url:
        return IndexSettings(index_url, user, password)
    reg = embedded_registry(root, port)
    return embedded.start(reg) if start else embedded.settings_for(reg)
