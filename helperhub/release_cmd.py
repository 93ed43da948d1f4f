"""`helperhub release` and `helperhub images`: the whole chain for one or all helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import kfp

from images.engine import docker_client
from images.local_registry import ensure_oci_registry
from images.stage import ImageSettings, release_image
from registry.errors import EngineError
from registry.index import IndexSettings
from registry.project import HelperProject, discover, release_order
from registry.release import ReleaseSettings, release_wheel

from . import settings as s
from .cli import cli
from .ui import RichReporter, console

F = TypeVar("F", bound=Callable[..., Any])


def image_options(f: F) -> F:
    options = [
        click.option("--oci-registry", envvar="HUB_OCI_REGISTRY", default="127.0.0.1:5000",
                     show_default=True, help="host:port of the OCI registry images are pushed to; "
                     "started locally when it does not answer and docker-registry is installed. "
                     "[env HUB_OCI_REGISTRY]"),
        click.option("--base-image", envvar="BASE_IMAGE", default="python:3.11-slim",
                     show_default=True, help="Image the helper images are built FROM. [env BASE_IMAGE]"),
        click.option("--require-images", is_flag=True, envvar="HUB_REQUIRE_IMAGES",
                     help="Fail instead of skipping the image stage when no engine answers. "
                     "[env HUB_REQUIRE_IMAGES]"),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@dataclass(frozen=True)
class ImageStage:
    settings: ImageSettings
    client: Any


def image_stage(
    repo: Path, index: IndexSettings, oci_registry: str, base_image: str, required: bool
) -> ImageStage | None:
    """The engine and registry for the image stage, or None (said in one line) without them."""
    try:
        client = docker_client()
        if not ensure_oci_registry(oci_registry, repo / ".hub"):
            raise EngineError(
                f"no OCI registry answers at {oci_registry} and docker-registry is not installed; "
                "run `make engine` or set HUB_OCI_REGISTRY"
            )
    except EngineError as exc:
        if required:
            raise
        console.print(f"[yellow]image stage skipped:[/] {exc}")
        return None
    settings = ImageSettings(oci_registry, base_image, index, repo / "pins.json")
    return ImageStage(settings, client)


def run_images(stage: ImageStage, projects: list[HelperProject], reporter: RichReporter) -> None:
    for project in projects:
        result = release_image(stage.settings, project.name, project.extras, stage.client, reporter)
        state = "built and pushed" if result.built else "unchanged"
        console.print(f"[bold]{result.image.tag}[/] {state}: {result.image.ref}")


@cli.command("release")
@s.root_option
@s.index_options
@image_options
@click.argument("packages", nargs=-1)
@click.option("--allow-dirty", is_flag=True, envvar="HUB_ALLOW_DIRTY",
              help="Release even with uncommitted changes. [env HUB_ALLOW_DIRTY]")
@click.option("--skip-tests", is_flag=True, help="Do not run the package's tests first.")
@click.option("--no-tag", is_flag=True, help="Do not create the <package>-v<version> git tag.")
@click.option("--no-images", is_flag=True, help="Stop after the wheel stage.")
@click.option("--cache", envvar="HUB_CACHE", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Wheelhouse and build folder. [env HUB_CACHE; default ~/.cache/helperhub]")
def release(
    root: Path | None, index_url: str | None, index_user: str | None,
    index_password: str | None, registry_port: int, oci_registry: str, base_image: str,
    require_images: bool, packages: tuple[str, ...], allow_dirty: bool, skip_tests: bool,
    no_tag: bool, no_images: bool, cache: Path | None,
) -> None:
    """Release PACKAGES (default: every helper, in dependency order).

    Checks the version, runs the tests, builds sdist and wheel reproducibly, mirrors the
    dependency closure and the kfp runtime, uploads, verifies what the index serves, bakes and
    pushes the image, and writes pins.json. Re-running a finished release changes nothing;
    re-running one that stopped half-way completes it.
    """
    repo = s.resolve_root(root)
    projects = discover(repo)
    order = release_order(projects, list(packages))
    index = s.index_settings(repo, index_url, index_user, index_password, registry_port)
    settings = ReleaseSettings(
        root=repo, index=index, cache=cache or s.default_cache(), kfp_version=kfp.__version__,
        allow_dirty=allow_dirty, run_tests=not skip_tests, tag=not no_tag,
    )
    reporter = RichReporter()
    for project in order:
        result = release_wheel(settings, project, projects, reporter)
        pin = result.pin
        state = "unchanged" if result.noop else (
            f"released ({len(result.uploaded)} files uploaded, "
            f"{len(result.mirrored)} wheels mirrored)"
        )
        console.print(f"[bold]{pin.name} {pin.version}[/] {state}: {pin.wheel} sha256:{pin.sha256[:12]}")
    if not no_images:
        stage = image_stage(repo, index, oci_registry, base_image, require_images)
        if stage is not None:
            run_images(stage, order, reporter)
    console.print(f"index: {index.simple_url}  lock: {settings.lock_path}")


@cli.command("images")
@s.root_option
@s.index_options
@image_options
@click.argument("packages", nargs=-1)
def images(
    root: Path | None, index_url: str | None, index_user: str | None,
    index_password: str | None, registry_port: int, oci_registry: str, base_image: str,
    require_images: bool, packages: tuple[str, ...],
) -> None:
    """Build and push the images of already released PACKAGES (default: all) from pins.json."""
    repo = s.resolve_root(root)
    order = release_order(discover(repo), list(packages))
    index = s.index_settings(repo, index_url, index_user, index_password, registry_port)
    stage = image_stage(repo, index, oci_registry, base_image, required=True)
    assert stage is not None
    run_images(stage, order, RichReporter())



