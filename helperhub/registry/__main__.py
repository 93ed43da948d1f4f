"""`python -m helperhub.registry`: run the private index in the foreground.

The entry point of the registry container and of `helperhub registry serve`; it imports only
what serving needs (pypiserver, cheroot, multipart, click, and readme_renderer for the catalog
pages), so the registry image stays small.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from helperhub.core import defaults
from helperhub.core.errors import HubError
from helperhub.registry.server.app import ServerSettings, serve


@click.command("serve", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", envvar="HUB_REGISTRY_HOST", default=defaults.REGISTRY_HOST, show_default=True,
              help="Interface to listen on (0.0.0.0 in a container). [env HUB_REGISTRY_HOST]")
@click.option("--port", envvar="HUB_REGISTRY_PORT", type=int, default=defaults.REGISTRY_PORT,
              show_default=True, help="Port to listen on. [env HUB_REGISTRY_PORT]")
@click.option("--packages", envvar="HUB_REGISTRY_PACKAGES", type=click.Path(path_type=Path),
              default=Path(defaults.STATE_DIR, "packages"), show_default=True,
              help="Folder that holds the released files. [env HUB_REGISTRY_PACKAGES]")
@click.option("--htpasswd", envvar="HUB_REGISTRY_HTPASSWD", type=click.Path(path_type=Path),
              default=None, help="htpasswd file of the users who may upload; without it nobody "
              "can upload. [env HUB_REGISTRY_HTPASSWD]")
@click.option("--auth-reads/--anonymous-reads", envvar="HUB_REGISTRY_AUTH_READS", default=False,
              show_default=True, help="Require a login to list and download too. [env HUB_REGISTRY_AUTH_READS]")
@click.option("--fallback-url", envvar="HUB_REGISTRY_FALLBACK_URL", default=None,
              help="Redirect unknown projects to this index (off by default: a private index "
              "that falls back to a public one invites dependency confusion). [env HUB_REGISTRY_FALLBACK_URL]")
@click.option("--max-upload-mb", envvar="HUB_REGISTRY_MAX_UPLOAD_MB", type=click.IntRange(min=1),
              default=defaults.MAX_UPLOAD_MB, show_default=True,
              help="Refuse uploads larger than this. [env HUB_REGISTRY_MAX_UPLOAD_MB]")
@click.option("--threads", envvar="HUB_REGISTRY_THREADS", type=click.IntRange(min=1),
              default=defaults.SERVER_THREADS, show_default=True,
              help="Worker threads of the server. [env HUB_REGISTRY_THREADS]")
@click.option("--max-concurrent-uploads", envvar="HUB_REGISTRY_MAX_CONCURRENT_UPLOADS", type=click.IntRange(min=1),
              default=defaults.MAX_CONCURRENT_UPLOADS, show_default=True,
              help="Uploads stored at once; more are answered 503 with Retry-After. "
              "[env HUB_REGISTRY_MAX_CONCURRENT_UPLOADS]")
@click.option("--owners", envvar="HUB_REGISTRY_OWNERS", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="TOML file whose [owners] table maps project-name globs to the users who "
              "may release them (\"tabular-*\" = [\"alice\"]), re-read when it changes; a project no glob "
              "matches belongs to its first uploader. [env HUB_REGISTRY_OWNERS]")
@click.option("--public-url", envvar="HUB_REGISTRY_PUBLIC_URL", default=None,
              help="The index's base URL as its users reach it (e.g. http://pypi.helpers.svc.cluster.local:8080), "
              "named in the catalog's install snippets; default: the address it listens on. "
              "[env HUB_REGISTRY_PUBLIC_URL]")
@click.option("--webhooks", envvar="HUB_REGISTRY_WEBHOOKS", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="TOML file of [[hook]] tables (url, secret-file or secret-env, events, projects): "
              "each release, yank, unyank, image record and retention delete is POSTed to them, signed, at "
              "least once. [env HUB_REGISTRY_WEBHOOKS]")
@click.option("--retention", envvar="HUB_REGISTRY_RETENTION", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="TOML file whose [retention] table (keep-newest, keep-days, keep-yanked-days, "
              "register-days) is the policy `helperhub registry gc` plans and applies. [env HUB_REGISTRY_RETENTION]")
@click.option("--admin", "admins", multiple=True, metavar="USER",
              help="A user who may run gc and change any registered lock (repeatable), beside the owners "
              "file's [admins].")
def serve_command(
    host: str, port: int, packages: Path, htpasswd: Path | None, auth_reads: bool,
    fallback_url: str | None, max_upload_mb: int, threads: int, max_concurrent_uploads: int,
    owners: Path | None, public_url: str | None, webhooks: Path | None, retention: Path | None,
    admins: tuple[str, ...],
) -> None:
    """Run the registry in the foreground (what the Compose service and the cluster run).

    Uploads are decided from their headers (login, size) before any body is read, then streamed
    into the package folder; one server per package folder."""
    from helperhub.registry.server.retention import load_policy  # on use: --help stays light
    from helperhub.registry.server.webhooks import load_webhooks

    try:
        settings = ServerSettings(
            host, port, packages, htpasswd, auth_reads, fallback_url, threads=threads,
            max_upload_bytes=max_upload_mb << 20, max_concurrent_uploads=max_concurrent_uploads, owners=owners,
            public_url=public_url, webhooks=load_webhooks(webhooks, os.environ) if webhooks else None,
            retention=load_policy(retention) if retention else None, admins=admins,
        )
        serve(settings, on_ready=lambda url: click.echo(f"registry serving {packages} on {url}", err=True))
    except HubError as exc:
        raise click.ClickException(str(exc)) from None


if __name__ == "__main__":
    serve_command(prog_name="python -m helperhub.registry")
