"""`helperhub release`, `images` and `bump`: the release pipeline of the repository's helpers.

The release layers are imported in the commands, not here: `--help` does not need them."""

from __future__ import annotations

from pathlib import Path

import click

from helperhub.cli import options as o
from helperhub.cli.ui import RichReporter, console
from helperhub.core import defaults
from helperhub.core.defaults import LOCK_NAME


@click.command("release")
@o.root_option
@o.index_options
@o.image_options
@click.argument("packages", nargs=-1)
@click.option("--allow-dirty", is_flag=True, envvar="HUB_ALLOW_DIRTY",
              help="Release even with uncommitted changes. [env HUB_ALLOW_DIRTY]")
@click.option("--skip-tests", is_flag=True, help="Do not run the package's tests first.")
@click.option("--no-tag", is_flag=True, help="Do not create the <package>-v<version> git tag.")
@click.option("--no-images", is_flag=True, help="Stop after the wheel stage.")
@o.cache_option
@o.signing_key_option
def release_cmd(
    root: Path | None, index_url: str | None, index_user: str | None,
    index_password: str | None, registry_port: int, oci_registry: str, base_image: str, image_user: str,
    require_images: bool, packages: tuple[str, ...], allow_dirty: bool, skip_tests: bool,
    no_tag: bool, no_images: bool, cache: Path | None, signing_key_file: Path | None,
) -> None:
    """Release PACKAGES (default: every helper, in dependency order).

    Checks the version, runs the tests, builds sdist and wheel reproducibly, mirrors the
    dependency closure and the kfp runtime, uploads, verifies what the index serves, bakes and
    pushes the image, signs each wheel's and image's provenance and attaches the SBOM of every
    target, and writes pins.json. Re-running a finished release changes nothing;
    re-running one that stopped half-way completes it.
    """
    from helperhub.release.project import discover
    from helperhub.release.run import open_image_stage, release_targets
    from helperhub.release.run import release as run_release
    from helperhub.release.wheel import ReleaseSettings

    repo = o.checkout_root(root)
    key = o.signing_key(repo, signing_key_file)
    cache = cache or defaults.cache_dir()
    targets = release_targets(repo, oci_registry, base_image, cache)
    index = o.index_settings(repo, index_url, index_user, index_password, registry_port)
    settings = ReleaseSettings(
        root=repo, index=index, cache=cache, kfp_version=o.kfp_version(),
        allow_dirty=allow_dirty, run_tests=not skip_tests, tag=not no_tag, targets=targets,
    )
    reporter = RichReporter()
    discover(repo)  # a checkout without helpers/ fails before the image stage is opened
    stage = None if no_images else open_image_stage(
        o.state_dir(repo), index, oci_registry, base_image, required=require_images, report=reporter,
        image_user=image_user, cache=cache,
    )
    run_release(settings, packages, reporter, stage, key)
    console.print(f"index: {index.simple_url}  lock: {settings.lock_path}")


@click.command("images")
@o.root_option
@o.index_options
@o.image_options
@click.argument("packages", nargs=-1)
@o.signing_key_option
def images(
    root: Path | None, index_url: str | None, index_user: str | None,
    index_password: str | None, registry_port: int, oci_registry: str, base_image: str, image_user: str,
    require_images: bool, packages: tuple[str, ...], signing_key_file: Path | None,
) -> None:
    """Build and push the images of already released PACKAGES (default: all) from pins.json, one
    per target of the repository."""
    from helperhub.release.project import discover, release_order
    from helperhub.release.run import bake_images, open_image_stage, release_targets

    repo = o.checkout_root(root)
    order = release_order(discover(repo), list(packages))
    cache = defaults.cache_dir()
    targets = release_targets(repo, oci_registry, base_image, cache)
    index = o.index_settings(repo, index_url, index_user, index_password, registry_port)
    reporter = RichReporter()
    stage = open_image_stage(o.state_dir(repo), index, oci_registry, base_image, required=True, report=reporter,
                             image_user=image_user, cache=cache)
    assert stage is not None  # required=True raises instead
    bake_images(stage, repo / LOCK_NAME, order, reporter, targets, o.signing_key(repo, signing_key_file))


@click.command("bump")
@o.root_option
@click.argument("package")
@click.argument("part", default="patch")
def bump(root: Path | None, package: str, part: str) -> None:
    """Set the next version of PACKAGE in its one version source.

    PART is major, minor, patch (default) or an explicit PEP 440 version.
    """
    from helperhub.release.project import discover, select
    from helperhub.release.versions import next_version, read_version, write_version

    project = select(discover(o.checkout_root(root)), package)
    current = read_version(project.version_source)
    new = next_version(current, part)
    write_version(project.version_source, new)
    console.print(f"{project.name}: {current} -> {new} ({project.version_source})")
