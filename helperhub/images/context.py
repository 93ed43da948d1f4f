"""Pure functions that render what an image build needs: tag, build args, labels.

Kept apart from running docker so the exact text can be tested (as flytekit's image_spec)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from helperhub.core.errors import ConfigError
from helperhub.registry.client import IndexSettings

DOCKERFILE = Path(__file__).with_name("helper.Dockerfile")
LABEL_PREFIX = "io.helperhub."
RECIPE_LABEL = f"{LABEL_PREFIX}recipe-sha256"
HELPER_UID = 10001  # the non-root uid (and gid) helper images run as: `USER 10001:10001` in helper.Dockerfile


class ReleasedWheel(Protocol):
    """What an image is baked from: a released helper wheel (the lock's ``PackagePin`` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def kfp_version(self) -> str: ...
    @property
    def commit(self) -> str: ...
    @property
    def requires(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class ImagePin:
    """A base image with the helper baked in, pinned by digest."""

    ref: str  # repo@sha256:...
    tag: str  # repo:version, for people; never used as a pin
    base_image: str  # the base it was built from, repo@sha256:... when known
    registry: str


@dataclass(frozen=True)
class ImageSpec:
    """Everything that decides an image's content, and so its identity."""

    repository: str  # <registry>/<package>
    tag: str  # the released version; never "latest"
    base_image: str
    buildargs: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


def helper_requirement(pin: ReleasedWheel, extras: tuple[str, ...]) -> str:
    """A direct-URL requirement with the wheel's sha256: pip refuses any other bytes."""
    extra = f"[{','.join(extras)}]" if extras else ""
    return f"{pin.name}{extra} @ {pin.url}#sha256={pin.sha256}"


def dependency_words(requires: tuple[str, ...]) -> str:
    """Requirements as one shell word list (the Dockerfile expands it unquoted, globbing off)."""
    for req in requires:
        if not req or any(c.isspace() for c in req) or any(c in req for c in "'\"$`;&|"):
            raise ConfigError(f"requirement {req!r} cannot be passed to the image build; fix pins.json")
    return " ".join(requires)


def expected_labels(pin: ReleasedWheel) -> dict[str, str]:
    """The labels that say what is inside; an existing tag must carry exactly these."""
    return {
        f"{LABEL_PREFIX}package": pin.name,
        f"{LABEL_PREFIX}version": pin.version,
        f"{LABEL_PREFIX}wheel-sha256": pin.sha256,
        f"{LABEL_PREFIX}kfp-version": pin.kfp_version,
    }


def recipe_sha256() -> str:
    """The identity of how helper images are built (the Dockerfile): an existing tag is reused
    only if it was built by the same recipe, so a changed recipe never hides behind an old tag."""
    return hashlib.sha256(DOCKERFILE.read_bytes()).hexdigest()


def image_spec(
    pin: ReleasedWheel, *, registry: str, base_image: str, index: IndexSettings,
    extras: tuple[str, ...] = (),
) -> ImageSpec:
    args = {
        "BASE_IMAGE": base_image,
        "DEPENDENCIES": dependency_words(pin.requires),
        "INDEX_URL": index.simple_url,
        "TRUSTED_HOST": index.host,
        "REQUIREMENT": helper_requirement(pin, extras),
        "KFP_VERSION": pin.kfp_version,
        "HELPER_NAME": pin.name,
        "HELPER_VERSION": pin.version,
        "WHEEL_SHA256": pin.sha256,
        "SOURCE_REVISION": pin.commit,
        "RECIPE_SHA256": recipe_sha256(),
    }
    labels = {**expected_labels(pin), RECIPE_LABEL: recipe_sha256()}
    return ImageSpec(
        repository=f"{registry.rstrip('/')}/{pin.name}",
        tag=pin.version,
        base_image=base_image,
        buildargs=tuple(sorted(args.items())),
        labels=tuple(sorted(labels.items())),
    )


def label_mismatch(expected: dict[str, str], found: dict[str, str]) -> list[str]:
    """Which of the expected labels an existing image lacks or has with another value."""
    return [
        f"{k}={found.get(k, '<missing>')!s} (expected {v})"
        for k, v in sorted(expected.items()) if found.get(k) != v
    ]
