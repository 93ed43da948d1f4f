"""Options shared by several commands. Settings are built once, here, from flags (each with the
environment variable declared beside it), the repository's ``[tool.helperhub]`` (click's
``default_map``, filled by ``helperhub.cli.config``) and defaults (``helperhub.core.defaults``),
and passed down explicitly."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from helperhub.core import defaults
from helperhub.core.errors import ConfigError
from helperhub.core.git import project_root, repo_root

if TYPE_CHECKING:  # imported where used: every command's --help imports this module
    from helperhub.core.signing import SigningKey
    from helperhub.registry.client import IndexSettings
    from helperhub.stack.embedded import EmbeddedRegistry

F = TypeVar("F", bound=Callable[..., Any])


def stack(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Apply several click options in the order they are listed (as --help shows them)."""

    def apply(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


root_option = click.option(
    "--root", envvar="HUB_ROOT", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Repository root (helpers/, pins.json). [env HUB_ROOT; default: the checkout of the current folder]",
)

port_option = click.option(
    "--registry-port", envvar="HUB_REGISTRY_PORT", type=int, default=defaults.REGISTRY_PORT, show_default=True,
    help="Port of the embedded registry. [env HUB_REGISTRY_PORT]",
)


def read_password_file(path: Path) -> str:
    """The password a file holds: its one line, without the trailing newline."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"cannot read the password file {path} ({reason}); give a readable UTF-8 file") from None
    password = text.rstrip("\r\n")
    if not password:
        raise ConfigError(f"the password file {path} is empty; write the password into it")
    if "\n" in password or "\r" in password:
        raise ConfigError(f"the password file {path} has several lines; keep only the password in it")
    return password


def password_option(param: str, envvar: str, what: str) -> Callable[[F], F]:
    """A password read from the environment variable ``envvar`` or from a file, never from a flag:
    argv is visible to every user of the machine (``ps``), the environment and files are not.

    The command receives the password itself (or None) as ``param``; the only flag is
    ``--password-file`` (env ``<envvar>_FILE``). Giving both sources is an error, not a guess."""
    file_envvar = f"{envvar}_FILE"

    def resolve(ctx: click.Context, option: click.Parameter, path: Path | None) -> str | None:
        from_env = os.environ.get(envvar) or None
        if path is None:
            return from_env
        if from_env is not None:
            raise ConfigError(f"both {envvar} and a password file ({path}) are set; give the password one way")
        return read_password_file(path)

    return click.option(
        "--password-file", param, envvar=file_envvar, default=None,
        type=click.Path(dir_okay=False, path_type=Path), callback=resolve,
        help=f"File holding {what} (one line). [env {file_envvar}; or the password itself in {envvar}]",
    )


index_options = stack(
    click.option("--index-url", envvar="HUB_INDEX_URL", default=None,
                 help="Base URL of the private index, without credentials. "
                 "[env HUB_INDEX_URL; pyproject: index-url; default: the embedded registry, started if needed]"),
    click.option("--user", "index_user", envvar="HUB_INDEX_USER", default=None,
                 help="Upload user. [env HUB_INDEX_USER]"),
    password_option("index_password", "HUB_INDEX_PASSWORD", "the upload password"),
    port_option,
)

image_options = stack(
    click.option("--oci-registry", envvar="HUB_OCI_REGISTRY", default=defaults.OCI_REGISTRY,
                 show_default=True, help="host:port of the OCI registry images are pushed to; "
                 "started locally when it does not answer and docker-registry is installed. "
                 "[env HUB_OCI_REGISTRY; pyproject: oci-registry]"),
    click.option("--base-image", envvar="BASE_IMAGE", default=defaults.BASE_IMAGE,
                 show_default=True,
                 help="Image the helper images are built FROM. [env BASE_IMAGE; pyproject: base-image]"),
    click.option("--image-user", envvar="HUB_IMAGE_USER", default=defaults.IMAGE_USER, show_default=True,
                 help="User the helper images run as: root, as their base image, or a numeric "
                 f"UID:GID (e.g. {defaults.NON_ROOT_IMAGE_USER}) for clusters that enforce runAsNonRoot. "
                 "[env HUB_IMAGE_USER; pyproject: image-user]"),
    click.option("--require-images", is_flag=True, envvar="HUB_REQUIRE_IMAGES",
                 help="Fail instead of skipping the image stage when no engine answers. "
                 "[env HUB_REQUIRE_IMAGES]"),
)

target_option = click.option(
    "--target", envvar="HUB_TARGET", default=None, metavar="NAME",
    help="Target (runtime: base image, Python, platforms) of the lock the steps use; default: each "
         "helper's first target. [env HUB_TARGET]",
)

cache_option = click.option(
    "--cache", envvar="HUB_CACHE", type=click.Path(file_okay=False, path_type=Path), default=None,
    help=f"Wheelhouse and build folder. [env HUB_CACHE; default {defaults.cache_dir()}]",
)


signing_key_option = click.option(
    "--signing-key-file", "signing_key_file", envvar="HUB_SIGNING_KEY_FILE", default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The releasing team's private key (ed25519 PEM, `helperhub keys new`) that signs each release's "
         f"provenance. [env HUB_SIGNING_KEY_FILE; default: the checkout's own, {defaults.STATE_DIR}/signing-key.pem, "
         "made on first use]",
)


def signing_key(root: Path, path: Path | None) -> SigningKey:
    """The key a release signs with: the file given (CI), else the checkout's own, made on first use."""
    from helperhub.core.signing import KEY_NAME, ensure_signing_key, load_signing_key

    return load_signing_key(path) if path is not None else ensure_signing_key(state_dir(root) / KEY_NAME)


def resolve_root(root: Path | None) -> Path:
    """The repository a command works on (``project_root``: a checkout, or a folder with the lock)."""
    return project_root(root or Path.cwd())


def checkout_root(root: Path | None) -> Path:
    """The git checkout a release works in (it reads the history)."""
    return repo_root(root or Path.cwd())


def state_dir(root: Path) -> Path:
    return root / defaults.STATE_DIR


def embedded_registry(root: Path, port: int) -> EmbeddedRegistry:
    from helperhub.stack.embedded import EmbeddedRegistry

    return EmbeddedRegistry(state=state_dir(root), port=port)


def index_settings(
    root: Path, index_url: str | None, user: str | None, password: str | None, port: int,
    *, start: bool = True,
) -> IndexSettings:
    """The configured index, or the embedded one (started when ``start``)."""
    from helperhub.registry.client import IndexSettings
    from helperhub.stack import embedded

    if index_url:
        return IndexSettings(index_url, user, password)
    reg = embedded_registry(root, port)
    return embedded.start(reg) if start else embedded.settings_for(reg)


def any_index(
    root: Path | None, index_url: str | None, user: str | None, password: str | None, port: int,
) -> IndexSettings:
    """The configured index, wherever the command runs; only the embedded registry (no URL
    given) needs the repository it belongs to."""
    if index_url:
        from helperhub.registry.client import IndexSettings

        return IndexSettings(index_url, user, password)
    return index_settings(resolve_root(root), None, user, password, port)


def kfp_version() -> str:
    """The installed kfp's version, from its metadata: what releases lock and pins require,
    without importing kfp (most of a second) in commands that never run a pipeline."""
    from importlib.metadata import version

    return version("kfp")
