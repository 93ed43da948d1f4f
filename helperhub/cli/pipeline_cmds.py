"""`helperhub who-pins`, `compile`, `demo`, `sbom`: the lock as pipelines use it (`pins ...`: pins_cmds.py).

What a command runs is imported in it (kfp for `compile` and `demo`, the registries' clients for
`pins bump` and `check`): `--help` and the other commands do not pay for it."""

from __future__ import annotations

import os
import platform
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from helperhub.cli import options as o
from helperhub.cli.ui import console, results
from helperhub.core.defaults import LOCK_NAME
from helperhub.core.settings import repository_settings
from helperhub.pipelines.modes import Mode
from helperhub.pipelines.profiles import DEFAULT_PROFILE

if TYPE_CHECKING:
    from helperhub.pipelines.delivery import Delivery

MODES = [m.value for m in Mode]

delivery_options = o.stack(
    click.option("--profile", envvar="HUB_PROFILE", default=DEFAULT_PROFILE, show_default=True,
                 help="Where pods reach the index and images: a profile of helperhub/pipelines/profiles.toml "
                 "(local: loopback as released; cluster: in-cluster services) or of [tool.helperhub.profiles] "
                 "in pyproject.toml. [env HUB_PROFILE; pyproject: profile]"),
    click.option("--pin-by", type=click.Choice(["hash", "version"]), envvar="HUB_PIN_BY", default="hash",
                 show_default=True, help="package mode: a direct URL with #sha256= (pip refuses other bytes), "
                 "or name==version (the step-start check still verifies the wheel's sha256). [env HUB_PIN_BY]"),
    click.option("--installer", type=click.Choice(["uv", "pip"]), envvar="HUB_INSTALLER", default="uv",
                 show_default=True, help="What package and working-tree steps install with: uv (bootstrapped from "
                 "the private index by the lock's sha256; seconds) or pip (KFP's packages_to_install). "
                 "[env HUB_INSTALLER]"),
    click.option("--pipeline-index-url", envvar="HUB_PIPELINE_INDEX_URL", default=None,
                 help="Index URL pods use (default: the one each pin was released to). "
                 "[env HUB_PIPELINE_INDEX_URL]"),
    click.option("--pipeline-base-image", envvar="HUB_PIPELINE_BASE_IMAGE", default=None,
                 help="Base image of non-image modes (default: the images' base, by digest). "
                 "[env HUB_PIPELINE_BASE_IMAGE]"),
    o.target_option,
)


def make_delivery(
    root: Path, profile: str, mode: str, pin_by: str, installer: str, index_url: str | None, base_image: str | None,
    target: str | None = None,
) -> Delivery:
    from helperhub.lock.lockfile import load_lock
    from helperhub.pipelines.delivery import Delivery
    from helperhub.pipelines.profiles import load_profile

    return Delivery.for_profile(
        load_profile(profile, settings=repository_settings(root)), load_lock(root / LOCK_NAME), Mode(mode),
        pin_by=pin_by, installer=installer, index_url=index_url, base_image=base_image, source_root=root,
        target=target,
    )


@click.command("sbom")
@o.root_option
@click.option("--target", "target", metavar="TARGET", default=None,
              help="The SBOM of that target (default: the helper's default target).")
@click.argument("name")
def sbom_cmd(root: Path | None, target: str | None, name: str) -> None:
    """Print the SBOM (CycloneDX JSON) of the pinned release of NAME."""
    from helperhub.lock.lockfile import load_lock
    from helperhub.pipelines.verify import pin_sbom

    document = pin_sbom(load_lock(o.resolve_root(root) / LOCK_NAME), name, target)
    click.echo(document.decode(), nl=False)


@click.command("who-pins")
@o.root_option
@o.index_options
@click.option("--index", "from_index", is_flag=True,
              help="List, per helper version, the repositories whose registered lock pins it (from the index).")
def who_pins_cmd(root: Path | None, index_url: str | None, index_user: str | None, index_password: str | None,
                 registry_port: int, from_index: bool) -> None:
    """Per helper and version: which compiled pipelines and components use it (--index: which
    registered repositories pin it)."""
    from rich.markup import escape

    from helperhub.lock.lockfile import load_lock
    from helperhub.pipelines.pins import who_pins, yanked_in_use

    repo = o.resolve_root(root)
    if from_index:
        from helperhub.pipelines.registration import index_pinners

        pinners = index_pinners(o.index_settings(repo, index_url, index_user, index_password, registry_port))
        if not pinners:
            results.print("no registered lock pins a helper (`helperhub pins register` registers one)")
        for (helper, version), repos in pinners.items():
            results.print(f"{helper} {version}: {', '.join(repos)}", markup=False, highlight=False)
        return
    usages = who_pins(repo)
    if not usages:
        results.print("no compiled pipeline pins a helper (run `make compile`)")
        return
    lock_path = repo / LOCK_NAME
    yanked, unreachable = yanked_in_use(usages, load_lock(lock_path)) if lock_path.exists() else ({}, [])
    for line in unreachable:
        console.print(f"[yellow]![/] yanks not checked for {escape(line)}", highlight=False)
    grouped: dict[tuple[str, str], dict[tuple[str, str, str], list[str]]] = {}
    for u in usages:
        grouped.setdefault((u.helper, u.version), {}).setdefault((u.file, u.pipeline, u.mode), []).append(u.component)
    for (helper, version), places in sorted(grouped.items()):
        reason = yanked.get((helper, version))
        mark = "" if reason is None else f"  [yellow]YANKED[/]{': ' + escape(reason) if reason else ''}"
        results.print(f"[bold]{helper} {version}[/]{mark}")
        for (file, pipeline, mode), components in sorted(places.items()):
            results.print(f"  {file}  pipeline {pipeline} ({mode}): {', '.join(sorted(components))}", soft_wrap=True)


@click.command("compile")
@o.root_option
@delivery_options
@click.option("--mode", "modes", type=click.Choice(MODES), multiple=True,
              help="Delivery mode(s) to compile (default: all).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: pipelines/compiled/<profile>].")
def compile_cmd(
    root: Path | None, profile: str, pin_by: str, installer: str, pipeline_index_url: str | None,
    pipeline_base_image: str | None, target: str | None,
    modes: tuple[str, ...], out: Path | None,
) -> None:
    """Compile the example pipeline to KFP IR YAML, one file per delivery mode."""
    from helperhub.pipelines.local_run import compile_pipeline

    repo = o.resolve_root(root)
    chosen = modes or MODES
    # the lock and the repository's settings are read once; each mode is the same delivery's
    delivery = make_delivery(repo, profile, chosen[0], pin_by, installer, pipeline_index_url, pipeline_base_image,
                             target)
    for mode in chosen:
        path = compile_pipeline(replace(delivery, mode=Mode(mode)), out or repo / "pipelines" / "compiled" / profile)
        results.print(f"{mode}: {path.relative_to(repo) if path.is_relative_to(repo) else path}")


def default_runner(delivery: Delivery) -> str:
    """docker for image mode, and for steps whose target this machine's Python cannot be (the
    subprocess runner installs into this interpreter); else subprocess, the quicker."""
    from helperhub.core.targets import MACHINES, platform_of
    from helperhub.core.wheelhouse import runs_here

    if delivery.mode is Mode.IMAGE:
        return "docker"
    pins = list(delivery.lock.packages.values())
    target = delivery.target or (pins[0].default_target if pins else "")
    pinned = [t for pin in pins if (t := pin.targets.get(target)) is not None]
    here = platform_of(platform.machine()) if platform.machine() in MACHINES.values() else ""
    return "subprocess" if all(here in t.closure and runs_here(t.facts(here)) for t in pinned) else "docker"


@click.command("demo")
@o.root_option
@delivery_options
@click.option("--mode", type=click.Choice(["image", "package", "embedded"]), default="image", show_default=True)
@click.option("--runner", type=click.Choice(["docker", "subprocess"]), default=None,
              help="kfp.local runner [default: docker for image mode and for a target whose Python or CPU "
                   "is not this machine's, subprocess otherwise].")
def demo(
    root: Path | None, profile: str, pin_by: str, installer: str, pipeline_index_url: str | None,
    pipeline_base_image: str | None, target: str | None,
    mode: str, runner: str | None,
) -> None:
    """Run the example pipeline locally with kfp.local and print its metrics."""
    from rich.table import Table

    from helperhub.pipelines.local_run import run_local

    repo = o.resolve_root(root)
    # pods install from the private index only: no pip configuration of this machine leaks in
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        del os.environ[key]
    os.environ["PIP_CONFIG_FILE"] = os.devnull
    delivery = make_delivery(repo, profile, mode, pin_by, installer, pipeline_index_url, pipeline_base_image,
                             target)
    result = run_local(delivery, runner or default_runner(delivery), o.state_dir(repo) / "runs")
    on = f", target {target}" if target else ""
    table = Table("metric", "value", title=f"example pipeline, {mode} mode{on}")
    for name, value in sorted({**result.metrics, **result.quality}.items()):
        table.add_row(name, f"{value:.4f}")
    results.print(table)
    results.print(f"accuracy {result.accuracy:.4f}")
