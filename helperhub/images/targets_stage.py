"""The image stage for one target: one image per target, a multi-platform target as an image
index, built without emulation (the host's platform by helper.Dockerfile, every other one on
the host by ``foreign``). It reads and writes no lock: the release records the ``ImagePin``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from platform import machine as host_machine
from typing import Any

from helperhub.core import defaults
from helperhub.core.errors import ConfigError, EngineError, IntegrityError
from helperhub.core.progress import Reporter
from helperhub.core.targets import image_tag, machine_of, platform_of
from helperhub.images import engine, registry_api
from helperhub.images.context import CLOSURE_LABEL, RECIPE_LABEL, image_spec, label_mismatch
from helperhub.images.foreign import ForeignBuild, build_foreign
from helperhub.images.oci import remote_image
from helperhub.images.stage import (
    ImageRelease,
    ImageSettings,
    earlier_recipe,
    earlier_recipe_warning,
    ensure_local,
    release_image,
    tag_lock,
)
from helperhub.images.target_context import PlatformWheel, arch, oci_labels, platform_wheel, release_labels
from helperhub.images.targets import ResolvedTarget
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import ImagePin, PackagePin


@dataclass(frozen=True)
class _Plan:
    repository: str  # <registry>/<helper>
    tag: str  # image_tag(version, target)
    labels: dict[str, str]  # io.helperhub.* of every platform's image


def release_target_image(
    settings: ImageSettings, pin: PackagePin, target: ResolvedTarget, uv: Mapping[str, LockedFile],
    client: Any, report: Reporter,
) -> ImageRelease:
    """Build and push the image of ``pin`` for ``target`` (or confirm the existing one).

    ``uv``: the lock's uv per platform (``lock.platform_tools["uv"]``); it must hold each platform
    the host builds by Dockerfile and, when a platform is foreign, the host's. Each platform of a
    multi-platform target is pushed as ``<tag>-<arch>``, then an index under ``<tag>``; one
    platform is its manifest under ``<tag>``. An existing tag whose platforms carry the release's
    labels is reused (one of an earlier recipe with a warning); other content is an error: a
    released image never changes. The target ``default`` is ``release_image``'s image, as before
    targets."""
    if target.name == defaults.TARGET_NAME:
        platform = target.platforms[0]
        view = platform_wheel(pin, target.name, platform)
        return release_image(replace(settings, base_image=target.bases[platform]), view,
                             _uv(uv, platform), client, report)
    versions = {f.version for f in uv.values()}
    if len(versions) != 1:
        raise ConfigError(f"the lock pins uv {' and '.join(sorted(versions)) or 'for no platform'}; "
                          "re-run the release so it pins one uv version for every platform")
    plan = _Plan(f"{settings.registry.rstrip('/')}/{pin.name}", image_tag(pin.version, target.name),
                 release_labels(pin, target.name, versions.pop(), settings.user))
    with tag_lock(settings.locks, f"{plan.repository}:{plan.tag}"):
        return _release(settings, pin, target, uv, plan, client, report)


def _release(settings: ImageSettings, pin: PackagePin, target: ResolvedTarget, uv: Mapping[str, LockedFile],
             plan: _Plan, client: Any, report: Reporter) -> ImageRelease:
    ref = f"{plan.repository}:{plan.tag}"
    multi = len(target.platforms) > 1
    existing = _existing(settings, plan, plan.tag, target.platforms, report)
    if existing is not None:
        return ImageRelease(_pin(settings, target, plan, *existing), built=False)
    platforms: dict[str, str] = {}
    for platform in target.platforms:
        tag = f"{plan.tag}-{arch(platform)}" if multi else plan.tag
        found = _existing(settings, plan, tag, (platform,), report) if multi else None
        if found is not None:  # a release that stopped before its index: its platforms stay
            platforms[platform] = found[0]
            continue
        platforms[platform] = _build(settings, pin, target, uv, plan, platform, tag, client, report)
    if not multi:
        return ImageRelease(_pin(settings, target, plan, platforms[target.platforms[0]], platforms), built=True)
    with report.step(f"pushing the index {ref} ({', '.join(target.platforms)})"):
        try:
            digest = registry_api.index(ref, [f"{plan.repository}@{platforms[p]}" for p in target.platforms])
        except registry_api.Failure as exc:
            raise EngineError(f"pushing the index {ref}: {exc}") from None
    return ImageRelease(_pin(settings, target, plan, digest, platforms), built=True)


def _pin(settings: ImageSettings, target: ResolvedTarget, plan: _Plan, digest: str,
         platforms: dict[str, str]) -> ImagePin:
    return ImagePin(ref=f"{plan.repository}@{digest}", tag=f"{plan.repository}:{plan.tag}",
                    base_image=target.base, registry=settings.registry, platforms=dict(sorted(platforms.items())))


def _existing(settings: ImageSettings, plan: _Plan, tag: str, platforms: tuple[str, ...],
              report: Reporter) -> tuple[str, dict[str, str]] | None:
    """(digest, platform -> manifest digest) of ``tag`` when it holds this release; None when
    absent; an error when it holds anything else."""
    remote = remote_image(plan.repository, tag)
    if remote is None:
        return None
    ref = f"{plan.repository}:{tag}"
    if set(remote.platforms) != set(platforms):
        raise IntegrityError(f"{ref} already exists for {', '.join(sorted(remote.platforms)) or 'no platform'}, "
                             f"not {', '.join(platforms)}; released images never change: bump the version")
    bad = label_mismatch(plan.labels, remote.labels)
    if bad and not earlier_recipe(remote, plan.labels):
        raise IntegrityError(f"{ref} already exists with other content ({bad[0]}); released images never "
                             "change: bump the version")
    if bad:
        report.warn(earlier_recipe_warning(ref, remote, settings.user))
    return remote.digest, dict(remote.platforms)


def _build(settings: ImageSettings, pin: PackagePin, target: ResolvedTarget, uv: Mapping[str, LockedFile],
           plan: _Plan, platform: str, tag: str, client: Any, report: Reporter) -> str:
    """One platform's image pushed as ``tag``: by helper.Dockerfile on the host's CPU, else on the host."""
    view = platform_wheel(pin, target.name, platform)
    base = target.bases[platform]
    ref = f"{plan.repository}:{tag}"
    if machine_of(platform) == host_machine():
        ensure_local(client, base, report)  # a step of its own: the reporter shows one at a time
        with report.step(f"building {ref} for {platform}"):
            return _dockerfile_build(settings, view, base, _uv(uv, platform), plan, tag, client)
    labels = {**plan.labels, **oci_labels(view, base)}
    build = ForeignBuild(view, platform, base, target.facts[platform], labels, settings.user)
    host = _uv(uv, platform_of(host_machine()))
    with report.step(f"building {ref} for {platform} on this {host_machine()} host (no emulation)"):
        return build_foreign(build, ref, settings.index, host, settings.cache, client)


def _dockerfile_build(settings: ImageSettings, view: PlatformWheel, base: str, uv: LockedFile, plan: _Plan,
                      tag: str, client: Any) -> str:
    spec = image_spec(view, registry=settings.registry, base_image=base, index=settings.index, uv=uv,
                      user=settings.user)
    args = {**dict(spec.buildargs), "CLOSURE_SHA256": plan.labels[CLOSURE_LABEL],
            "RECIPE_SHA256": plan.labels[RECIPE_LABEL]}
    spec = replace(spec, tag=tag, buildargs=tuple(sorted(args.items())),
                   labels=tuple(sorted({**dict(spec.labels), **plan.labels}.items())))
    engine.build(client, spec, log=lambda _line: None, labels=plan.labels)
    return engine.push(client, spec, log=lambda _line: None)


def _uv(uv: Mapping[str, LockedFile], platform: str) -> LockedFile:
    if platform not in uv:
        raise ConfigError(f"the lock pins no uv for {platform} (it has {', '.join(uv) or 'none'}); re-run the "
                          "release so it mirrors and pins uv for every platform it builds on or for")
    return uv[platform]
