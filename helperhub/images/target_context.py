"""Pure functions that say what the image of a declared target holds: its labels, recipe and
the released wheel as one platform sees it. The target ``default`` (a repository without
declared targets) keeps ``context``'s labels exactly, so its earlier images stay reusable."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from helperhub.core import defaults
from helperhub.core.errors import ConfigError
from helperhub.core.targets import MACHINES
from helperhub.core.uv import programs_sha256
from helperhub.images.context import (
    CLOSURE_LABEL,
    DOCKERFILE,
    LABEL_PREFIX,
    RECIPE_LABEL,
    USER_LABEL,
    expected_labels,
)
from helperhub.lock.closure import LockedFile, closure_sha256
from helperhub.lock.lockfile import PackagePin

TARGET_LABEL = f"{LABEL_PREFIX}target"
PYTHON_LABEL = f"{LABEL_PREFIX}python"
IMPLEMENTATION_LABEL = f"{LABEL_PREFIX}implementation"
GLIBC_LABEL = f"{LABEL_PREFIX}glibc"
# how a foreign platform's layer is made: part of a declared target's recipe
HOST_BUILD = tuple(Path(__file__).with_name(n) for n in ("foreign.py", "layer.py", "venv_tree.py"))


@dataclass(frozen=True)
class PlatformWheel:
    """A released helper as one platform of one target installs it (a ``context.ReleasedWheel``)."""

    name: str
    version: str
    sha256: str
    url: str
    kfp_version: str
    commit: str
    depends: tuple[str, ...]
    closure: tuple[LockedFile, ...]


def platform_wheel(pin: PackagePin, target: str, platform: str) -> PlatformWheel:
    """``pin`` with the closure ``target`` locks for ``platform``."""
    files = pin.require_target(target).closure.get(platform)
    if not files:
        raise ConfigError(f"the pin of {pin.name} {pin.version} locks no closure for {platform} of target "
                          f"{target}; re-run its release for that target")
    return PlatformWheel(pin.name, pin.version, pin.sha256, pin.url, pin.kfp_version, pin.commit,
                         tuple(pin.depends), tuple(files))


def arch(platform: str) -> str:
    """``linux/arm64`` -> ``arm64``: the suffix of a platform's own tag (``1.2.0-py311-arm64``)."""
    if platform not in MACHINES:
        raise ConfigError(f"platform {platform!r} is not supported; use one of {', '.join(MACHINES)}")
    return platform.rpartition("/")[2]


def target_closure_sha256(closure: Mapping[str, Sequence[LockedFile]]) -> str:
    """The identity of a target's closures: one platform's is ``closure_sha256`` of its files (as
    before targets), several are hashed together with their platforms (every platform's image
    carries the same label, so an index's labels agree)."""
    if len(closure) == 1:
        return closure_sha256(next(iter(closure.values())))
    text = json.dumps({p: [f.to_json() for f in sorted(files)] for p, files in sorted(closure.items())},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def target_recipe_sha256(uv_version: str) -> str:
    """How a declared target's images are built: the Dockerfile (the host's platform), the host
    build of the others, uv's version and its programs. One value for every platform and host."""
    parts = [hashlib.sha256(DOCKERFILE.read_bytes()).hexdigest(),
             *(hashlib.sha256(p.read_bytes()).hexdigest() for p in HOST_BUILD), uv_version, programs_sha256()]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def target_labels(pin: PackagePin, target: str | None = None) -> dict[str, str]:
    """The labels that say what the image of ``target`` (None: the pin's default) holds, from the
    lock alone (no recipe, no user): what an existing image must carry to be this release's."""
    name = target or pin.default_target
    locked = pin.require_target(name)
    view = PlatformWheel(pin.name, pin.version, pin.sha256, pin.url, pin.kfp_version, pin.commit,
                         tuple(pin.depends), locked.files())
    if name == defaults.TARGET_NAME:
        return expected_labels(view)
    return {
        **expected_labels(view),
        CLOSURE_LABEL: target_closure_sha256(locked.closure),
        TARGET_LABEL: name,
        PYTHON_LABEL: locked.python,
        IMPLEMENTATION_LABEL: locked.implementation,
        GLIBC_LABEL: ".".join(map(str, locked.glibc)),
    }


def release_labels(pin: PackagePin, target: str, uv_version: str, user: str) -> dict[str, str]:
    """Every io.helperhub label the image of a declared target carries on each of its platforms."""
    return {**target_labels(pin, target), RECIPE_LABEL: target_recipe_sha256(uv_version), USER_LABEL: user}


def oci_labels(wheel: PlatformWheel, base: str) -> dict[str, str]:
    """The org.opencontainers labels helper.Dockerfile sets (the base: that platform's)."""
    return {
        "org.opencontainers.image.title": wheel.name,
        "org.opencontainers.image.version": wheel.version,
        "org.opencontainers.image.revision": wheel.commit,
        "org.opencontainers.image.base.name": base,
    }
