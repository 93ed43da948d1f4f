"""Pure functions that render what an image build needs: tag, build args, labels.

Kept apart from running docker so the exact text can be tested (as flytekit's image_spec)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helperhub.core import defaults
from helperhub.core.errors import ConfigError
from helperhub.core.uv import BOOTSTRAP, RECORD, programs_sha256
from helperhub.lock.closure import LockedFile, closure_sha256, rebase_url
from helperhub.registry.client import IndexSettings

DOCKERFILE = Path(__file__).with_name("helper.Dockerfile")
LABEL_PREFIX = "io.helperhub."
RECIPE_LABEL = f"{LABEL_PREFIX}recipe-sha256"
CLOSURE_LABEL = f"{LABEL_PREFIX}closure-sha256"
USER_LABEL = f"{LABEL_PREFIX}image-user"
# the user images ran as before the image-user setting (and its label) existed: helperhub < 0.2
LEGACY_IMAGE_USER = "10001:10001"
ROOT = "root"
_NUMERIC_USER = re.compile(r"(0|[1-9][0-9]{0,9}):(0|[1-9][0-9]{0,9})")  # no leading zeros: one spelling


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
    def depends(self) -> tuple[str, ...]: ...
    @property
    def closure(self) -> tuple[LockedFile, ...]: ...


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


def locked_url(file: LockedFile, beside: str, index_url: str) -> str:
    """``name@url#sha256=...`` on the index the build reaches: one shell word (PEP 508 allows no
    spaces around ``@``), and the installer refuses any other bytes."""
    return f"{file.name}@{rebase_url(file.url(beside), index_url)}#sha256={file.sha256}"


def helper_names(pin: ReleasedWheel) -> set[str]:
    """The helper and the helpers it depends on: the image's second layer."""
    return {pin.name, *(canonicalize_name(Requirement(r).name) for r in pin.depends)}


def install_layers(pin: ReleasedWheel, index_url: str) -> tuple[list[str], list[str]]:
    """(third-party closure, helpers) as requirement words: every file of the lock, exact."""
    if not pin.closure:
        raise ConfigError(f"the pin of {pin.name} {pin.version} has no locked closure; re-run its release")
    helpers = helper_names(pin)
    own = LockedFile(pin.name, pin.version, pin.url.rsplit("/", 1)[-1], pin.sha256)
    third = [locked_url(f, pin.url, index_url) for f in pin.closure if f.name not in helpers]
    mine = [locked_url(f, pin.url, index_url) for f in (*pin.closure, own) if f.name in helpers]
    return third, sorted(mine)


def dependency_words(requires: Sequence[str]) -> str:
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
        CLOSURE_LABEL: closure_sha256(pin.closure),
    }


def check_image_user(user: str) -> str:
    """``user`` if helper images can run as it: ``root`` (the base image's user) or a numeric
    ``UID:GID`` that is not root (Kubernetes' runAsNonRoot can only verify a numeric user)."""
    found = _NUMERIC_USER.fullmatch(user)
    if user == ROOT or (found and 0 < int(found[1]) < 2**31 and int(found[2]) < 2**31):
        return user
    raise ConfigError(
        f"image user {user!r} is neither {ROOT} nor a numeric non-root UID:GID; "
        f"set image-user / HUB_IMAGE_USER to e.g. {defaults.NON_ROOT_IMAGE_USER}, or {ROOT}"
    )


def recipe_sha256(uv: LockedFile) -> str:
    """The identity of how helper images are built (the Dockerfile, uv and the programs that come
    with it), a label of every image: an existing tag of the same release built by another recipe
    is kept with a warning that says so (``stage.earlier_recipe``), never taken for this one's."""
    parts = [hashlib.sha256(DOCKERFILE.read_bytes()).hexdigest(), uv.sha256, programs_sha256()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def image_spec(
    pin: ReleasedWheel, *, registry: str, base_image: str, index: IndexSettings, uv: LockedFile,
    user: str = defaults.IMAGE_USER,
) -> ImageSpec:
    """The build args and labels of a pin's image: its locked closure and uv, on the index the
    build reaches (``index``), run as ``user``. The user is a label too: a tag built for another
    user is another image, never reused for this one."""
    third, helpers = install_layers(pin, index.simple_url)
    args = {
        "BASE_IMAGE": base_image,
        "DEPENDENCIES": dependency_words(third),
        "REQUIREMENTS": dependency_words(helpers),
        "UV_URL": rebase_url(uv.url(pin.url), index.simple_url),
        "UV_SHA256": uv.sha256,
        "UV_VERSION": uv.version,
        "UV_BOOTSTRAP": BOOTSTRAP,
        "UV_RECORD": RECORD,
        "CLOSURE_SHA256": closure_sha256(pin.closure),
        "KFP_VERSION": pin.kfp_version,
        "HELPER_NAME": pin.name,
        "HELPER_VERSION": pin.version,
        "WHEEL_SHA256": pin.sha256,
        "SOURCE_REVISION": pin.commit,
        "RECIPE_SHA256": recipe_sha256(uv),
        "IMAGE_USER": check_image_user(user),
    }
    labels = {**expected_labels(pin), RECIPE_LABEL: recipe_sha256(uv), USER_LABEL: user}
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
