"""`helperhub pins ...`: the lock (show, diff, bump, outdated, check) and its registration on the
index. What a command runs is imported in it: `--help` and the other commands do not pay for it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from helperhub.cli import options as o
from helperhub.cli.ui import console, results
from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import HubError

if TYPE_CHECKING:
    from helperhub.lock.environments import EnvironmentPin
    from helperhub.lock.lockfile import Lock
    from helperhub.pipelines.pin_bump import Relock
    from helperhub.registry.client import IndexSettings


@click.group("pins")
def pins() -> None:
    """The lock (pins.json): show, diff, bump, outdated, check; register it on the index."""


@pins.command("show")
@o.root_option
@click.option("--closure", "closure_of", metavar="NAME", default=None,
              help="Show the locked closure of helper NAME: every file a step installs with it.")
@click.option("--target", "target", metavar="TARGET", default=None,
              help="With --closure: the closure of that target (default: the helper's default target).")
@click.option("--platform", "platform", metavar="PLATFORM", default=None,
              help="With --closure: the closure on that platform, e.g. linux/arm64 (default: the target's first).")
def pins_show(root: Path | None, closure_of: str | None, target: str | None, platform: str | None) -> None:
    """Table of helper -> version, wheel sha256, image digest, modes, closure size. When a helper
    is pinned for targets (Python versions, platforms), one row per target: its Python, platforms,
    image digest and closure size per platform."""
    from rich.table import Table

    from helperhub.lock.lockfile import load_lock
    from helperhub.pipelines.pins import closure_rows, pins_columns, pins_rows

    if closure_of is None and (target or platform):
        raise click.UsageError("--target and --platform choose a closure: give --closure NAME too")
    lock = load_lock(o.resolve_root(root) / LOCK_NAME)
    if closure_of is not None:
        rows: list[tuple[str, ...]] = list(closure_rows(lock, closure_of, target, platform))
        where = f" ({target or 'default target'}{f', {platform}' if platform else ''})" if target or platform else ""
        table = Table("name", "version", "filename", "sha256", "extras", title=f"closure of {closure_of}{where}")
    else:
        rows = list(pins_rows(lock))
        table = Table(*pins_columns(lock))
    for column in table.columns:
        column.overflow = "fold"
    for row in rows:
        table.add_row(*row)
    results.print(table)


@pins.command("diff")
@o.root_option
@click.option("--target", "target", metavar="TARGET", default=None,
              help="Only that target's closures (default: every target both versions are pinned for).")
@click.argument("name")
@click.argument("from_version", metavar="FROM")
@click.argument("to_version", metavar="[TO]", required=False)
def pins_diff(root: Path | None, target: str | None, name: str, from_version: str, to_version: str | None) -> None:
    """Which locked dependencies of NAME moved from version FROM to TO (default: the pinned one),
    from pins.json or its git history; per target and platform both versions are pinned for."""
    from helperhub.pipelines.pin_history import diff_pins

    for line in diff_pins(o.resolve_root(root), name, from_version, to_version, target):
        results.print(line, markup=False, highlight=False, soft_wrap=True)


def known_helpers(repo: Path, lock: Lock) -> set[str]:
    """The helpers a bump records dependencies on: the repository's own (helpers/, when it has
    one) and every pinned one, so a pipeline repository that bumps tabular-helpers and then
    vision-helpers records vision's dependency on tabular."""
    from helperhub.release.project import HELPERS_DIR, discover

    names = set(lock.packages)
    if (repo / HELPERS_DIR).is_dir():
        names |= set(discover(repo))
    return names


@pins.command("bump")
@o.root_option
@o.index_options
@o.image_options
@click.option("--target", "targets", metavar="TARGET", multiple=True,
              help="Pin only this target of VERSION (repeat for several); the lock's other targets of the "
              "same release stay. Default: every target the OCI registry has an image of.")
@click.option("--latest", is_flag=True,
              help="Pin PACKAGE's newest release instead of a VERSION (yanked ones left out).")
@click.option("--all", "all_pins", is_flag=True,
              help="Move every pin of the lock to its newest release (no PACKAGE, no VERSION); all are "
              "written, or none.")
@click.option("--pre", is_flag=True, help="With --latest or --all: pre-releases count as releases.")
@click.option("--allow-unsigned", is_flag=True, envvar="HUB_ALLOW_UNSIGNED",
              help="Pin a release that has no provenance (one signed by an untrusted key, or whose signature "
              "does not verify, is still refused). [env HUB_ALLOW_UNSIGNED]")
@click.argument("package", required=False)
@click.argument("version", required=False)
def pins_bump(
    root: Path | None, index_url: str | None, index_user: str | None, index_password: str | None,
    registry_port: int, oci_registry: str, base_image: str, image_user: str, require_images: bool,
    targets: tuple[str, ...], latest: bool, all_pins: bool, pre: bool, allow_unsigned: bool,
    package: str | None, version: str | None,
) -> None:
    """Pin PACKAGE to an already released VERSION, resolved from the registries, for every target
    it was released for: the targets are its image tags in the OCI registry (VERSION: the target
    default; VERSION-NAME: target NAME), what runs there is read from the images' labels, and each
    target's closure is resolved from the index per platform. A release without images is pinned
    for the target default (CPython 3.11, linux/amd64). `PACKAGE --latest` pins the newest
    release, `--all` moves every pin to its newest, each printing what moved, as `pins outdated`.
    In a repository that trusts release keys ([tool.helperhub.trusted-keys], or the checkout's
    own), the wheel's and each image's provenance must be signed by one of them and each SBOM
    must match, or nothing is pinned."""
    from rich.markup import escape

    from helperhub.lock.lockfile import load_lock
    from helperhub.pipelines.verify import bump_verifier

    _bump_arguments(package, version, latest, all_pins, pre, targets)
    repo = o.resolve_root(root)
    helpers = known_helpers(repo, load_lock(repo / LOCK_NAME))
    index = o.index_settings(repo, index_url, index_user, index_password, registry_port)
    verify = bump_verifier(repo, allow_unsigned=allow_unsigned)
    if verify is None:
        console.print("[yellow]![/] provenance not verified: this repository trusts no release key; add the "
                      "releasing team's public key (`helperhub keys show` in its checkout prints it) to "
                      r"\[tool.helperhub.trusted-keys] in pyproject.toml", highlight=False)
    relock = _relock(repo, index)
    if latest or all_pins:
        from helperhub.pipelines.outdated import bump_latest, computed_source, report_lines

        source = computed_source(index, oci_registry, helpers, o.kfp_version(), _unique(targets), verify)
        reports = bump_latest(repo / LOCK_NAME, [package] if package else [], index, source, pre=pre, relock=relock)
        for line in report_lines(reports):
            results.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    from helperhub.pipelines.pins import bump_pin

    assert package is not None and version is not None  # _bump_arguments
    bump = bump_pin(repo / LOCK_NAME, package, version, index, oci_registry, helpers, o.kfp_version(),
                    targets=_unique(targets), verify=verify, relock=relock)
    if bump.note:
        console.print(f"[yellow]![/] {escape(bump.note)}", highlight=False)
    pin = bump.pin
    results.print(f"{pin.name} pinned to {pin.version} sha256:{pin.sha256[:12]} "
                  f"image {pin.image.ref if pin.image else '-'}")
    if set(pin.targets) != {"default"}:
        for name, target in pin.targets.items():
            image = target.image.ref if target.image else "-"
            results.print(f"  target {name}: Python {target.python} on {', '.join(target.platforms)}, image {image}")


def _relock(repo: Path, index: IndexSettings) -> Relock | None:
    """How a bump locks again the declared environments it moves a helper of (none declared: None)."""
    from helperhub.core.settings import repository_settings

    specs = repository_settings(repo).get("environments", {})
    if not specs:
        return None

    def relock(lock: Lock) -> list[EnvironmentPin]:
        from helperhub.cli.ui import RichReporter
        from helperhub.pipelines.env_lock import EnvLockSettings, relock_stale

        envs = relock_stale(EnvLockSettings(repo, index), specs, lock, RichReporter())
        for env in envs:
            console.print(f"environment {env.name} locked again against the new pins", highlight=False)
        return envs

    return relock


def _bump_arguments(package: str | None, version: str | None, latest: bool, all_pins: bool, pre: bool,
                    targets: tuple[str, ...]) -> None:
    """One of PACKAGE VERSION, PACKAGE --latest and --all, else a usage error saying which."""
    if all_pins and (package or latest or targets):
        raise click.UsageError("--all moves every pin to its newest release: give no PACKAGE, VERSION, "
                               "--latest or --target")
    if latest and version:
        raise click.UsageError(f"--latest picks the version: give PACKAGE alone, or drop --latest to pin {version}")
    if pre and not (latest or all_pins):
        raise click.UsageError("--pre counts pre-releases among the newest: give it with --latest or --all")
    if not all_pins and not (package and (version or latest)):
        raise click.UsageError("give PACKAGE VERSION, PACKAGE --latest (its newest release) or --all (every pin)")


@pins.command("outdated")
@o.root_option
@o.index_options
@o.image_options
@click.option("--pre", is_flag=True, help="Pre-releases count as newer releases.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the report as JSON: a list of {name, pinned, latest, newer: [{version, released_at, "
              "major, closure, targets, problem}]} (docs/pipeline-authors.md).")
@click.argument("names", metavar="[NAME]...", nargs=-1)
def pins_outdated(
    root: Path | None, index_url: str | None, index_user: str | None, index_password: str | None,
    registry_port: int, oci_registry: str, base_image: str, image_user: str, require_images: bool,
    pre: bool, as_json: bool, names: tuple[str, ...],
) -> None:
    """Per pin (NAME: only those), the newer releases in the index (yanked ones left out,
    pre-releases only with --pre): release time, a new major version or not, and what moves in each
    target's closure, computed as `pins bump` would pin it, nothing written. A report: exit 0."""
    import json

    from helperhub.lock.lockfile import load_lock
    from helperhub.pipelines.outdated import computed_source, outdated, report_json, report_lines

    repo = o.resolve_root(root)
    lock = load_lock(repo / LOCK_NAME)
    index = o.index_settings(repo, index_url, index_user, index_password, registry_port)
    source = computed_source(index, oci_registry, known_helpers(repo, lock), o.kfp_version())
    reports = outdated(lock, index, source, names, pre=pre)
    if as_json:
        click.echo(json.dumps(report_json(reports), indent=2))
        return
    for line in report_lines(reports):
        results.print(line, markup=False, highlight=False, soft_wrap=True)
    behind = sum(1 for r in reports if r.newer)
    results.print(f"{behind} of {len(reports)} pins have newer releases" +
                  ("; `helperhub pins bump --all` moves each to its newest" if behind else ""),
                  markup=False, highlight=False)
    moving = {r.name for r in reports if r.newer}
    for env in lock.environments.values():
        if moved := sorted(moving & {u.name for u in env.helpers}):
            results.print(f"environment {env.name} uses {', '.join(moved)}: `pins bump --all` locks it again",
                          markup=False, highlight=False)


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


@pins.command("check")
@o.root_option
@click.option("--download", is_flag=True,
              help="Also download every closure file and check the sha256 of its bytes (slower).")
@click.option("--verify", "verify", is_flag=True,
              help="Also verify each pin's signed provenance and SBOM with the trusted keys.")
@click.option("--allow-unsigned", is_flag=True, envvar="HUB_ALLOW_UNSIGNED",
              help="With --verify: let a release without provenance pass. [env HUB_ALLOW_UNSIGNED]")
def pins_check(root: Path | None, download: bool, verify: bool, allow_unsigned: bool) -> None:
    """Fail unless every pin is served with its sha256, every closure file of every target and
    platform is listed with its locked sha256 (--download: and served with it), and each target's
    image exists by digest, with every platform's manifest the lock names."""
    from rich.markup import escape

    from helperhub.lock.lockfile import load_lock
    from helperhub.pipelines.pins import check_pins, closure_file_count

    repo = o.resolve_root(root)
    lock = load_lock(repo / LOCK_NAME)
    found = check_pins(lock, download=download)
    if verify:
        from helperhub.pipelines.pin_check import PinProblem
        from helperhub.pipelines.verify import load_trust, verify_lock

        found += [PinProblem(n, m) for n, m in verify_lock(lock, load_trust(repo), allow_unsigned=allow_unsigned)]
    for p in found:
        mark = "[yellow]![/]" if p.warning else "[red]✗[/]"
        results.print(f"{mark} {p.name}: {escape(p.message)}", highlight=False)
    if problems := [p for p in found if not p.warning]:
        raise HubError(f"{len(problems)} pin(s) failed the check; re-release or `make pins-bump`")
    how = ("listed and downloaded" if download else "listed") + (", provenance verified" if verify else "")
    envs = f" and {len(lock.environments)} environments" if verify and lock.environments else ""
    results.print(f"[green]✓[/] {len(lock.packages)} pins{envs} and {closure_file_count(lock)} closure files "
                  f"({how}) verified against the registries")


repo_name_option = click.option(
    "--name", "repo_name", default=None, metavar="REPO",
    help="The repository's name on the index (default: the folder's name).")


@pins.command("register")
@o.root_option
@o.index_options
@repo_name_option
def pins_register(root: Path | None, index_url: str | None, index_user: str | None, index_password: str | None,
                  registry_port: int, repo_name: str | None) -> None:
    """Register (or renew) this repository's pins.json with the index: retention never deletes
    what a registered lock pins while it is renewed within the index's register-days."""
    from helperhub.pipelines.registration import register_lock

    repo = o.resolve_root(root)
    index = o.index_settings(repo, index_url, index_user, index_password, registry_port)
    results.print(register_lock(repo, index, repo_name), markup=False, highlight=False)


@pins.command("unregister")
@o.root_option
@o.index_options
@repo_name_option
def pins_unregister(root: Path | None, index_url: str | None, index_user: str | None, index_password: str | None,
                    registry_port: int, repo_name: str | None) -> None:
    """Remove this repository's registered lock from the index (its user's, or an admin's)."""
    from helperhub.pipelines.registration import unregister_lock

    repo = o.resolve_root(root)
    index = o.index_settings(repo, index_url, index_user, index_password, registry_port)
    results.print(unregister_lock(repo, index, repo_name), markup=False, highlight=False)
