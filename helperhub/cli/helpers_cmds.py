"""`helperhub helpers list|show`: find released helpers from the registry, without a clone.

The catalog's reader and rich's tables are imported in the commands: `--help` does not need them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from helperhub.cli import options as o
from helperhub.cli.ui import console, results
from helperhub.core import defaults
from helperhub.core.errors import ConfigError, GitError

if TYPE_CHECKING:
    from helperhub.pipelines.catalog import VersionDetail, VersionRef
    from helperhub.registry.client import IndexSettings

read_options = o.stack(o.root_option, o.index_options)


def read_index(
    root: Path | None, index_url: str | None, user: str | None, password: str | None, port: int,
) -> IndexSettings:
    """--index-url as given, so no clone is needed; else the checkout's embedded registry,
    started when down as `pins bump` does."""
    if index_url:
        return o.index_settings(root or Path.cwd(), index_url, user, password, port)
    try:
        repo = o.resolve_root(root)
    except GitError:
        raise ConfigError(
            "no index given and not inside a helperhub checkout; give --index-url or set HUB_INDEX_URL "
            "(e.g. http://pypi.example.org:8080)"
        ) from None
    return o.index_settings(repo, None, user, password, port)


def _marked(version: str, yanked: str | None) -> str:
    """A version as the tables show it: a yanked one says so, with its reason."""
    if yanked is None:
        return version
    return f"{version} (yanked: {yanked})" if yanked else f"{version} (yanked)"


def _versions(refs: tuple[VersionRef, ...]) -> str:
    return ", ".join(_marked(r.version, r.yanked) for r in refs)


def _image_cell(version: VersionDetail) -> str:
    """The digest, as before targets, when the one image is the target default's; else one line
    per target: its name, platforms and digest."""
    if not version.images:
        return "-"
    if [i.target for i in version.images] == [defaults.TARGET_NAME]:
        return version.images[0].digest
    return "\n".join(f"{i.target} ({', '.join(p.split('/', 1)[1] for p in i.platforms)}): {i.digest}"
                     for i in version.images)


@click.group("helpers")
def helpers() -> None:
    """Discover the helpers released into the registry: names, versions, requirements, images."""


@helpers.command("list")
@read_options
def helpers_list(
    root: Path | None, index_url: str | None, index_user: str | None, index_password: str | None,
    registry_port: int,
) -> None:
    """Every helper in the index: its versions (newest first) and the newest one's summary.

    Mirrored third-party projects (numpy, kfp, ...) are not listed: a helper is a project the
    release uploaded an sdist of."""
    from rich.markup import escape
    from rich.table import Table

    from helperhub.pipelines.catalog import list_helpers

    index = read_index(root, index_url, index_user, index_password, registry_port)
    rows = list_helpers(index)
    if not rows:
        results.print(f"no helper in the index at {escape(index.base)} (release one with `make release`)")
        return
    table = Table("helper", "versions (newest first)", "summary", title=f"helpers in {escape(index.simple_url)}")
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        table.add_row(escape(row.name), escape(_versions(row.versions)), escape(row.summary or "-"))
    results.print(table)


@helpers.command("show")
@read_options
@click.option("--oci-registry", envvar="HUB_OCI_REGISTRY", default=defaults.OCI_REGISTRY, show_default=True,
              help="host:port of the OCI registry the images were pushed to; '' to skip the image digests. "
              "[env HUB_OCI_REGISTRY]")
@click.option("--limit", type=click.IntRange(min=0), default=10, show_default=True,
              help="Show the newest N versions (each one's wheel is downloaded for its METADATA); 0: all.")
@click.argument("name")
def helpers_show(
    root: Path | None, index_url: str | None, index_user: str | None, index_password: str | None,
    registry_port: int, oci_registry: str, limit: int, name: str,
) -> None:
    """Versions of helper NAME, newest first: release time, requirements (Requires-Dist, with
    extras markers), image digests (when the image holds the served wheel): one per target the
    version was released for (Python version, platforms; a release without declared targets has
    the one target "default"); then the newest version's description."""
    from rich.markup import escape
    from rich.table import Table

    from helperhub.pipelines.catalog import show_helper

    index = read_index(root, index_url, index_user, index_password, registry_port)
    detail = show_helper(index, name, oci_registry or None, limit or None)
    results.print(f"[bold]{escape(detail.name)}[/] {escape(detail.summary)}")
    table = Table("version", "released", "requires", "image digest")
    for column in table.columns:
        column.overflow = "fold"
    for v in detail.versions:
        released = v.released.strftime("%Y-%m-%dT%H:%M:%SZ") if v.released else "-"
        table.add_row(escape(_marked(v.version, v.yanked)), released,
                      escape("\n".join(v.requires) or "-"), escape(_image_cell(v)))
    if len(detail.versions) < detail.total_versions:
        table.caption = f"newest {len(detail.versions)} of {detail.total_versions} versions; --limit 0 shows all"
    results.print(table)
    for warning in detail.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if detail.extras:
        results.print(f"extras: {escape(', '.join(detail.extras))}")
    if detail.description:
        results.print(f"\n[bold]description[/] ({escape(detail.versions[0].version)}):")
        results.print(detail.description, markup=False, highlight=False)
