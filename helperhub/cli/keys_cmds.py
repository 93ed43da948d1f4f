"""`helperhub keys`: the releasing team's signing key. The private key stays where it is made
(0600, in the git-ignored state folder unless told otherwise) and is never committed; what others
need is the public key, for their ``[tool.helperhub.trusted-keys]``."""

from __future__ import annotations

from pathlib import Path

import click

from helperhub.cli import options as o
from helperhub.cli.ui import console, results


@click.group("keys")
def keys() -> None:
    """The key that signs a release's provenance: make one, show its public half."""


def _default(root: Path | None) -> Path:
    from helperhub.core.signing import KEY_NAME

    return o.state_dir(o.resolve_root(root)) / KEY_NAME


@keys.command("new")
@o.root_option
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the private key (0600); the public key goes beside it as OUT.pub. "
                   "[default: .hub/signing-key.pem of the checkout]")
def keys_new(root: Path | None, out: Path | None) -> None:
    """Make a new ed25519 key pair for signing releases (refused if the file exists)."""
    from helperhub.core.signing import new_key, public_path

    path = out or _default(root)
    key = new_key(path)
    console.print(f"private key: {path} (keep it secret; CI reads it from HUB_SIGNING_KEY_FILE)")
    console.print(f"public key:  {public_path(path)}; teams trust it in pyproject.toml:")
    results.print(f'[tool.helperhub.trusted-keys]\n"*" = "{key.public.text}"', markup=False, highlight=False)


@keys.command("show")
@o.root_option
@o.signing_key_option
def keys_show(root: Path | None, signing_key_file: Path | None) -> None:
    """Print the public key releases are signed with (base64, what trusted-keys takes)."""
    from helperhub.core.signing import load_signing_key

    results.print(load_signing_key(signing_key_file or _default(root)).public.text, markup=False, highlight=False)
