"""The image stage of a release: released wheel -> base image -> OCI registry -> digest.

It reads and writes no lock: the release records the returned ``ImagePin``."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helperhub.core import defaults
from helperhub.core.errors import EngineError, IntegrityError
from helperhub.core.progress import Reporter
from helperhub.images import engine
from helperhub.images.context import (
    LEGACY_IMAGE_USER,
    RECIPE_LABEL,
    USER_LABEL,
    ReleasedWheel,
    check_image_user,
    image_spec,
    label_mismatch,
)
from helperhub.images.oci import RemoteImage, remote_image
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import ImagePin
from helperhub.registry.client import IndexSettings


@dataclass(frozen=True)
class ImageSettings:
    registry: str  # host:port of the OCI registry images are pushed to
    base_image: str  # e.g. python:3.11-slim or 127.0.0.1:5000/python:3.11-slim
    index: IndexSettings  # as the build reaches it (host networking)
    user: str = defaults.IMAGE_USER  # root, or a numeric non-root UID:GID for clusters that enforce it
    # one release at a time builds and pushes a tag on this machine (the engine is shared); in
    # the user's cache, not at a predictable path under /tmp that any local user can pre-create
    locks: Path = field(default_factory=lambda: defaults.cache_dir() / "locks")
    # the host's uv for platforms built without their CPU (``cache``/uv/<sha256>)
    cache: Path = field(default_factory=defaults.cache_dir)

    def __post_init__(self) -> None:
        check_image_user(self.user)  # a wrong user fails before the release, not at its image stage


@dataclass(frozen=True)
class ImageRelease:
    image: ImagePin
    built: bool


def ensure_local(client: Any, image: str, report: Reporter) -> None:
    import docker.errors

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        with report.step(f"pulling {image}"):
            try:
                client.images.pull(image)
            except docker.errors.APIError as exc:
                raise EngineError(
                    f"cannot pull base image {image} ({exc.explanation}); "
                    "set BASE_IMAGE to an image this engine has or can pull"
                ) from None


@contextmanager
def tag_lock(locks: Path, ref: str) -> Iterator[None]:
    """Exclusive per image tag: a concurrent release waits, then finds the tag pushed."""
    locks.mkdir(mode=0o700, parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in ref)
    with (locks / f"{safe}.lock").open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


def release_image(
    settings: ImageSettings, pin: ReleasedWheel, uv: LockedFile, client: Any, report: Reporter
) -> ImageRelease:
    """Build and push the image of a released wheel, or confirm the existing one.

    A tag that exists with the release's labels is reused (no build), and so is one holding this
    release built by an earlier recipe of the tool (a warning);
    one with other content is an error: a released image never changes."""
    with tag_lock(settings.locks, f"{settings.registry}/{pin.name}:{pin.version}"):
        return _release_image(settings, pin, uv, client, report)


def _release_image(
    settings: ImageSettings, pin: ReleasedWheel, uv: LockedFile, client: Any, report: Reporter
) -> ImageRelease:
    ensure_local(client, settings.base_image, report)
    base = engine.repo_digest(client, settings.base_image)
    spec = image_spec(
        pin, registry=settings.registry, base_image=base, index=settings.index, uv=uv, user=settings.user
    )
    remote = remote_image(spec.repository, spec.tag)
    built = remote is None
    if remote is not None:
        bad = label_mismatch(dict(spec.labels), remote.labels)
        if bad and not earlier_recipe(remote, dict(spec.labels)):
            raise IntegrityError(
                f"{spec.ref} already exists with other content ({bad[0]}); released images "
                "never change: bump the version"
            )
        if bad:
            report.warn(earlier_recipe_warning(spec.ref, remote, settings.user))
        digest = remote.digest
        base = remote.labels.get("org.opencontainers.image.base.name", base)
    else:
        with report.step(f"building {spec.ref}"):
            engine.build(client, spec, log=lambda _line: None)
        with report.step(f"pushing {spec.ref}"):
            digest = engine.push(client, spec, log=lambda _line: None)
    image = ImagePin(
        ref=f"{spec.repository}@{digest}", tag=spec.ref, base_image=base, registry=settings.registry
    )
    return ImageRelease(image, built)


def earlier_recipe(remote: RemoteImage, labels: dict[str, str]) -> bool:
    """Whether an existing tag holds this very release (same wheel, closure and kfp) built by an
    earlier recipe of the tool: only the recipe differs, or the image predates the image-user
    setting. Such an image is kept, not rebuilt, so upgrading the tool never re-releases (or
    refuses) an old version: a released image never changes. A user the release asks for that
    differs from the image's is still refused (bump the version)."""
    differ = {k for k, v in labels.items() if remote.labels.get(k) != v}
    return differ <= {RECIPE_LABEL, USER_LABEL} and (USER_LABEL not in differ or not remote.labels.get(USER_LABEL))


def earlier_recipe_warning(ref: str, remote: RemoteImage, user: str) -> str:
    """What a kept image of an earlier recipe means for its steps: above all which user it runs as."""
    ran_as = remote.labels.get(USER_LABEL) or LEGACY_IMAGE_USER
    runs = "" if ran_as == user else (
        f"; it runs as {ran_as}, not {user}: its steps need a pipeline root that user can write"
    )
    return (f"{ref} was built by an earlier recipe of helperhub and is kept (released images never change){runs}; "
            "the next version's image is built by this one")
