"""One target of a released helper in the lock: the runtime its closure was resolved for, the image
built for it and the files a step installs on each of its platforms.

The facts (Python, implementation, glibc) are the base image's, read from its files at release;
the CPU of each platform follows from the platform (``linux/arm64``: ``aarch64``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from helperhub.core.errors import LockError
from helperhub.core.targets import IMPLEMENTATIONS, MACHINES, NAME_PATTERN, TargetFacts, machine_of
from helperhub.lock.closure import LockedFile

IMAGE_KEYS = ("ref", "tag", "base_image", "registry")
PIN_KEYS = ("python", "implementation", "glibc", "base_image", "closure")  # and "image", when built
PYTHON = re.compile(r"3\.\d+")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
FIX = "restore pins.json from git or re-run the release"


@dataclass(frozen=True)
class ImagePin:
    """A base image with the helper baked in, pinned by digest."""

    ref: str  # repo@sha256:... (of the image index, for a multi-platform image)
    tag: str  # repo:version, for people; never used as a pin
    base_image: str  # the base it was built from, repo@sha256:... when known
    registry: str
    # a multi-platform image: each platform's manifest digest in the index ``ref`` names
    platforms: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {k: getattr(self, k) for k in IMAGE_KEYS}
        if self.platforms:
            data["platforms"] = dict(self.platforms)
        return data

    @classmethod
    def from_json(cls, owner: str, data: Any) -> ImagePin:
        if not isinstance(data, dict) or set(data) - {*IMAGE_KEYS, "platforms"} or not all(
            isinstance(data.get(k), str) for k in IMAGE_KEYS
        ):
            raise LockError(f"pins.json entry {owner!r} has an image that is not {', '.join(IMAGE_KEYS)} "
                            f"(and platforms); {FIX}")
        platforms = data.get("platforms", {})
        if not isinstance(platforms, dict) or not all(
            p in MACHINES and isinstance(d, str) and DIGEST.fullmatch(d) for p, d in platforms.items()
        ):
            raise LockError(f"pins.json entry {owner!r} has image platforms that are not "
                            f"{' or '.join(MACHINES)} -> sha256 digest; {FIX}")
        return cls(**{k: data[k] for k in IMAGE_KEYS}, platforms=dict(sorted(platforms.items())))


@dataclass(frozen=True)
class TargetPin:
    """A helper release for one target."""

    python: str  # "3.13"
    implementation: str  # "cp"
    glibc: tuple[int, int]  # (2, 41)
    base_image: str = ""  # repo@sha256:... of the base as resolved ("" before the image is built)
    image: ImagePin | None = None
    # platform ("linux/amd64") -> every file a step there installs with the helper
    closure: dict[str, tuple[LockedFile, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, facts: TargetFacts, *, base_image: str = "", image: ImagePin | None = None,
           closure: dict[str, tuple[LockedFile, ...]] | None = None) -> TargetPin:
        """The pin of a target whose platforms share ``facts`` but for the CPU."""
        return cls(facts.python, facts.implementation, facts.glibc, base_image, image, dict(closure or {}))

    @property
    def platforms(self) -> tuple[str, ...]:
        """The platforms with a locked closure, in ``MACHINES`` order (amd64 first)."""
        return tuple(p for p in MACHINES if p in self.closure)

    def facts(self, platform: str) -> TargetFacts:
        """What runs on ``platform`` of this target: what its closure there was resolved for."""
        return TargetFacts(self.python, self.implementation, self.glibc, machine_of(platform))

    def files(self, platform: str | None = None) -> tuple[LockedFile, ...]:
        """The closure on ``platform`` (None: the first platform); none locked: ``()``."""
        if platform is None:
            platform = next(iter(self.platforms), "")
        return self.closure.get(platform, ())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "python": self.python, "implementation": self.implementation, "glibc": list(self.glibc),
            "base_image": self.base_image,
            "closure": {p: [f.to_json() for f in files] for p, files in self.closure.items()},
        }
        if self.image is not None:
            data["image"] = self.image.to_json()
        return data

    @classmethod
    def from_json(cls, owner: str, name: str, data: Any) -> TargetPin:
        where = f"pins.json entry {owner!r} target {name!r}"
        if not NAME_PATTERN.fullmatch(name):
            raise LockError(f"pins.json entry {owner!r} has a target named {name!r}, not {NAME_PATTERN.pattern}; {FIX}")
        if not isinstance(data, dict) or set(data) - {*PIN_KEYS, "image"} or set(PIN_KEYS) - set(data):
            raise LockError(f"{where} is not {', '.join(PIN_KEYS)} (and image); {FIX}")
        python, impl, glibc, base, closure = (data[k] for k in PIN_KEYS)
        if not (isinstance(python, str) and PYTHON.fullmatch(python) and impl in IMPLEMENTATIONS
                and isinstance(glibc, list) and len(glibc) == 2 and all(type(v) is int for v in glibc)
                and isinstance(base, str)):
            raise LockError(f"{where} has facts that are not a Python 3.x, cp or pp, a glibc [2, N] and a base; {FIX}")
        if not isinstance(closure, dict) or not all(p in MACHINES and isinstance(f, list) for p, f in closure.items()):
            raise LockError(f"{where} has a closure that is not {' or '.join(MACHINES)} -> files; "
                            "upgrade helperhub, or " + FIX)
        image = data.get("image")
        return cls(
            python, impl, (glibc[0], glibc[1]), base, ImagePin.from_json(owner, image) if image is not None else None,
            {p: tuple(LockedFile.from_json(owner, f) for f in closure[p]) for p in MACHINES if p in closure},
        )
