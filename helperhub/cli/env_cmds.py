"""`helperhub env ...`: a step's environment (several helpers, extra packages, the team's own
modules), declared under ``[tool.helperhub.environments.<name>]`` and locked into pins.json."""

from __future__ import annotations

from pathlib import Path

import click

from helperhub.cli import options as o
from helperhub.cli.ui import RichReporter, results


@click.group("env")
def env() -> None:
    """Environments of steps: lock them into pins.json, build their images, show them."""


@env.command("lock")
@o.root_option
@o.index_options
@click.option("--offline", is_flag=True, envvar="HUB_OFFLINE",
              help="Resolve from the private index alone; mirror nothing into it. [env HUB_OFFLINE]")
@click.option("--upgrade", is_flag=True, help="Let every extra package move to the newest its helpers allow.")
@click.option("--upgrade-package", "upgrade_packages", metavar="NAME", multiple=True,
              help="Let this extra package move (repeat for several); the others keep their locked versions.")
@click.argument("names", metavar="[NAME]...", nargs=-1)
def env_lock(root: Path | None, index_url: str | None, index_user: str | None, index_password: str | None,
             registry_port: int, offline: bool, upgrade: bool, upgrade_packages: tuple[str, ...],
             names: tuple[str, ...]) -> None:
    """Lock each environment NAME (default: every one declared) for each of its targets and
    platforms: its helpers at the lock's pins, their closures never moved; its extra packages
    resolved against them to exact files with sha256, from the private index (what it lacks is
    first fetched on this host and mirrored into it with your login, unless --offline); its
    modules by the hash of their source. Written into pins.json together, or not at all; an
    environment whose inputs did not change is left as it is."""
    from helperhub.core.settings import repository_settings
    from helperhub.pipelines.env_lock import EnvLockSettings, lock_environments

    repo = o.resolve_root(root)
    specs = repository_settings(repo).get("environments", {})
    index = o.index_settings(repo, index_url, index_user, index_password, registry_port)
    settings = EnvLockSettings(repo, index, offline=offline, upgrade=upgrade,
                               upgrade_packages=frozenset(upgrade_packages))
    for item in lock_environments(settings, specs, list(dict.fromkeys(names)), RichReporter()):
        pin = item.pin
        state = "locked" if item.resolved else "unchanged"
        sizes = ", ".join(f"{t} {'+'.join(str(len(f)) for f in target.closure.values())} files"
                          for t, target in pin.targets.items())
        results.print(f"{pin.name} {state}: {sizes}" + (f"; mirrored {len(item.mirrored)} files" if item.mirrored
                                                         else ""), markup=False, highlight=False)


@env.command("build")
@o.root_option
@click.option("--oci-registry", envvar="HUB_OCI_REGISTRY", default=None,
              help="host:port of the OCI registry the images are pushed to. [env HUB_OCI_REGISTRY; pyproject: "
              "oci-registry; default: the registry of the environment's helper images]")
@o.cache_option
@o.signing_key_option
@click.argument("names", metavar="[NAME]...", nargs=-1)
def env_build(root: Path | None, oci_registry: str | None, cache: Path | None, signing_key_file: Path | None,
              names: tuple[str, ...]) -> None:
    """Build the image of every target of each locked environment NAME (default: all) and pin it
    by digest in pins.json: the helper image holding most of it, with the files it lacks and the
    team's modules appended as layers through the registry API (no Docker engine; the same inputs
    give the same digest on any machine). The tag is a hash of what goes in: with nothing changed,
    nothing is pushed. Each image gets its SBOM and its provenance, signed with the team's key
    (--signing-key-file, else the checkout's own, made on first use), attached."""
    from helperhub.core import defaults
    from helperhub.pipelines.env_build import EnvBuildSettings, build_environments

    repo = o.resolve_root(root)
    registry = oci_registry or _helper_registry(repo) or defaults.OCI_REGISTRY
    settings = EnvBuildSettings(repo, registry, cache or defaults.cache_dir())
    key = o.signing_key(repo, signing_key_file)
    for built in build_environments(settings, list(dict.fromkeys(names)), RichReporter(), key):
        state = "pushed" if built.pushed else "unchanged"
        results.print(f"{built.environment} {built.target} {state}: {built.image.ref}", markup=False,
                      highlight=False)


def _helper_registry(repo: Path) -> str | None:
    """The OCI registry the lock's helper images are in (an environment image lives beside them)."""
    from helperhub.core.defaults import LOCK_NAME
    from helperhub.lock.lockfile import load_lock

    lock = load_lock(repo / LOCK_NAME)
    return next((t.image.registry for p in lock.packages.values() for t in p.targets.values()
                 if t.image is not None and t.image.registry), None)


@env.command("show")
@o.root_option
@click.argument("name")
def env_show(root: Path | None, name: str) -> None:
    """The locked files of environment NAME, per target and platform."""
    from rich.table import Table

    from helperhub.core.defaults import LOCK_NAME
    from helperhub.lock.lockfile import load_lock

    pin = load_lock(o.resolve_root(root) / LOCK_NAME).require_environment(name)
    table = Table("target", "platform", "name", "version", "filename", "sha256", title=f"environment {name}")
    for target, locked in pin.targets.items():
        for platform, files in locked.closure.items():
            for f in files:
                table.add_row(target, platform, f.name, f.version, f.filename, f.sha256[:12])
    results.print(table)
