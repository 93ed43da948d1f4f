"""A whole release: the wheel stage of every selected helper (in dependency order), then the
image stage, each result recorded in the lock. The CLI, the tests and the bench all call
:func:`release`; nothing else strings the stages together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helperhub.core import defaults
from helperhub.core.errors import EngineError, HubError
from helperhub.core.progress import Reporter
from helperhub.core.settings import load_settings
from helperhub.core.signing import SigningKey
from helperhub.core.targets import TARGETS
from helperhub.images.engine import docker_client
from helperhub.images.stage import ImageRelease, ImageSettings
from helperhub.images.targets import ResolvedTarget, default_target, resolve_targets
from helperhub.images.targets_stage import release_target_image
from helperhub.lock.lockfile import load_lock, record_image_in_lock
from helperhub.registry.client import IndexSettings, record_image_on_index
from helperhub.release.attest import attest_image, attest_wheel
from helperhub.release.project import HelperProject, discover, release_order
from helperhub.release.records import pin_record, record_on_index
from helperhub.release.sbom_inputs import start_gathering
from helperhub.release.self_release import TOOL, release_self
from helperhub.release.uv_release import UV, release_tools
from helperhub.release.wheel import ReleaseSettings, WheelRelease, plan_wheel, release_wheel
from helperhub.stack.oci_registry import ensure_oci_registry


@dataclass(frozen=True)
class ImageStage:
    """The engine and OCI registry the image stage builds with and pushes to."""

    settings: ImageSettings
    client: Any


@dataclass(frozen=True)
class HelperRelease:
    wheel: WheelRelease
    image: ImageRelease | None = None  # the default target's
    images: tuple[ImageRelease, ...] = ()  # every target's, in the release's order


def open_image_stage(
    state: Path, index: IndexSettings, oci_registry: str, base_image: str, *, required: bool,
    report: Reporter, client: Any = None, image_user: str = defaults.IMAGE_USER, cache: Path | None = None,
) -> ImageStage | None:
    """The image stage's engine and registry (the local OCI registry is started when it can
    be), or None, said in one warning, when there is none and images are not ``required``."""
    settings = ImageSettings(oci_registry, base_image, index, image_user,  # checked before the engine
                             cache=cache or defaults.cache_dir())
    try:
        client = client or docker_client()
        if not ensure_oci_registry(oci_registry, state):
            raise EngineError(
                f"no OCI registry answers at {oci_registry} and docker-registry is not installed; "
                "run `make engine` or set HUB_OCI_REGISTRY"
            )
    except EngineError as exc:
        if required:
            raise
        report.warn(f"image stage skipped: {exc}")
        return None
    return ImageStage(settings, client)


def release_targets(root: Path, oci_registry: str, base_image: str, cache: Path,
                    client: Callable[[], Any] = docker_client) -> tuple[ResolvedTarget, ...]:
    """The targets ``[tool.helperhub.targets]`` of the repository at ``root`` declares, each base
    pinned in the OCI registry and each platform's facts read from it (the engine is asked only
    for facts not cached); none declared: today's one target on ``base_image``."""
    declared = load_settings(root).get(TARGETS, ())
    return resolve_targets(declared, oci_registry, client, cache, base_image)


def bake_images(
    stage: ImageStage, lock_path: Path, projects: Sequence[HelperProject], report: Reporter,
    targets: Sequence[ResolvedTarget] | None = None, key: SigningKey | None = None,
) -> list[ImageRelease]:
    """Build and push the image of each project's locked release for each target (or confirm it),
    record its digest in the lock and show it in the index; the results in that order. ``targets``:
    the release's (None: the one target ``default`` on the stage's base image). With ``key``, each
    image gets its target's SBOM and its signed provenance attached."""
    # the target ``default`` is built on the stage's base image (BASE_IMAGE), as before targets
    chosen = tuple(t if t.name != defaults.TARGET_NAME else default_target(stage.settings.base_image)
                   for t in targets or (default_target(stage.settings.base_image),))
    done = []
    for project in projects:
        for target in chosen:
            lock = load_lock(lock_path)
            pin = lock.require(project.name, fix=f"make release PACKAGE={project.name}")
            uv = lock.platform_tools.get(UV, {})
            inputs = None if key is None else start_gathering(  # while the image builds
                stage.settings.index, pin, target.name, target.bases, stage.client, stage.settings.cache)
            result = release_target_image(stage.settings, pin, target, uv, stage.client, report)
            lock = record_image_in_lock(lock_path, pin.name, pin.version, result.image, target.name)
            show_image_in_index(stage.settings.index, pin.name, pin.version, result.image.ref, target.name, report)
            state = "built and pushed" if result.built else "unchanged"
            report.info(f"{result.image.tag} {state}: {result.image.ref}")
            if key is not None:
                attest_image(stage.settings.index, lock.require(pin.name, fix=f"make release PACKAGE={pin.name}"),
                             target.name, target.bases, key, stage.client, report, inputs=inputs,
                             cache=stage.settings.cache)
            done.append(result)
    return done


def show_image_in_index(index: IndexSettings, name: str, version: str, ref: str, target: str,
                        report: Reporter) -> None:
    """Tell the index the image of a release for ``target``, for its catalog. The lock is the source
    of truth, so an index that cannot take it (no login, an older registry, unreachable) is only a
    warning."""
    try:
        record_image_on_index(index, name, version, ref, target=target)
    except HubError as exc:
        of = "" if target == defaults.TARGET_NAME else f" for target {target}"
        report.warn(f"the index's catalog does not show the image of {name} {version}{of}: {exc}")


def record_releases(index: IndexSettings, lock_path: Path, projects: Sequence[HelperProject],
                    report: Reporter) -> None:
    """Record each project's finished lock entry on the index (after its uploads and images)."""
    lock = load_lock(lock_path)
    for project in projects:
        pin = lock.require(project.name, fix=f"make release PACKAGE={project.name}")
        record_on_index(index, pin.name, pin.version, pin_record(pin, lock), report)


def release(
    settings: ReleaseSettings, packages: Sequence[str], report: Reporter, images: ImageStage | None = None,
    key: SigningKey | None = None,
) -> list[HelperRelease]:
    """Release ``packages`` (all helpers when empty) end to end.

    First every helper is checked and its closure fetched for every target (nothing uploaded yet:
    a target no wheel meets stops the release here). Then uv (the installer steps bootstrap) and,
    in the tool's own repository, the tool itself, each with its closure. Per helper: tests,
    reproducible sdist and wheel, the closures mirrored, upload, read-back verification, lock
    entry per target; then, with an image stage, its image per target built, pushed and pinned by
    digest. With ``key``, every wheel and sdist gets its signed provenance on the index and every
    image its SBOM and signed provenance (``attest``). Re-running a finished release changes nothing;
    re-running one that stopped half-way completes it."""
    projects = discover(settings.root)
    order = release_order(projects, list(packages))
    # every helper checked and every target's closure fetched before anything is uploaded
    with report.step(f"fetching the closures for {', '.join(t.name for t in settings.targets)}"):
        plans = [plan_wheel(settings, project, projects) for project in order]
    release_tools(settings, report)
    tool = release_self(settings, report)
    if tool is not None:
        report.info(f"{TOOL} {tool.version} {tool.state}: {tool.wheel} sha256:{tool.sha256[:12]}")
    wheels = []
    for project, plan in zip(order, plans, strict=True):
        result = release_wheel(settings, project, projects, report, plan)
        pin = result.pin
        state = "unchanged" if result.noop else (
            f"released ({len(result.uploaded)} files uploaded, {len(result.mirrored)} wheels mirrored)"
        )
        report.info(f"{pin.name} {pin.version} {state}: {pin.wheel} sha256:{pin.sha256[:12]}")
        wheels.append(result)
        if key is not None:
            attest_wheel(settings.index, pin, key, report)
    if images is None:
        record_releases(settings.index, settings.lock_path, order, report)
        return [HelperRelease(w) for w in wheels]
    baked = bake_images(images, settings.lock_path, order, report, settings.targets, key)
    record_releases(settings.index, settings.lock_path, order, report)
    per = len(settings.targets)
    return [HelperRelease(w, baked[i * per], tuple(baked[i * per:(i + 1) * per])) for i, w in enumerate(wheels)]
