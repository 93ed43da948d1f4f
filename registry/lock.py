"""The lock, ``pins.json``: what each helper release is, byte for byte.

It is read by the pin commands and the component factories and written by releases, so it is
always written atomically (temp file in the same folder, fsync, rename) and deterministically
(sorted keys, fixed indentation) so that git diffs show only real changes.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import LockError

LOCK_FORMAT = 1
LOCK_NAME = "pins.json"


@dataclass(frozen=True)
class ImagePin:
    """A base image with the helper baked in, pinned by digest."""

    ref: str  # repo@sha256:...
    tag: str  # repo:version, for people; never used as a pin
    base_image: str  # the base it was built from, repo@sha256:... when known
    registry: str


@dataclass(frozen=True)
class PackagePin:
    """One released version of one helper package."""

    name: str
    version: str
    wheel: str
    sha256: str
    url: str
    index_url: str
    kfp_version: str
    commit: str
    released_at: str
    source_sha256: str = ""
    sdist: str = ""
    sdist_sha256: str = ""
    requires: tuple[str, ...] = ()  # third-party closure roots, kfp included
    depends: tuple[str, ...] = ()  # the repository's other helpers it depends on
    image: ImagePin | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["name"]
        data["requires"] = list(self.requires)
        data["depends"] = list(self.depends)
        if self.image is None:
            del data["image"]
        return data

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> PackagePin:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise LockError(
                f"pins.json entry {name!r} has unknown keys {sorted(unknown)}; "
                "upgrade helperhub or fix the entry"
            )
        try:
            image = data.get("image")
            return cls(
                name=name,
                **{k: v for k, v in data.items() if k not in ("image", "requires", "depends")},
                requires=tuple(data.get("requires", ())),
                depends=tuple(data.get("depends", ())),
                image=ImagePin(**image) if image else None,
            )
        except TypeError as exc:
            raise LockError(f"pins.json entry {name!r} is incomplete ({exc}); re-run the release") from None

    def with_image(self, image: ImagePin) -> PackagePin:
        return replace(self, image=image)


@dataclass(frozen=True)
class Lock:
    """All pins, keyed by normalised package name."""

    packages: dict[str, PackagePin] = field(default_factory=dict)

    def get(self, name: str) -> PackagePin | None:
        return self.packages.get(name)

    def require(self, name: str, *, fix: str) -> PackagePin:
        pin = self.packages.get(name)
        if pin is None:
            raise LockError(f"no pin for {name!r} in {LOCK_NAME}; run `{fix}`")
        return pin

    def with_pin(self, pin: PackagePin) -> Lock:
        return Lock({**self.packages, pin.name: pin})

    def to_json(self) -> dict[str, Any]:
        return {
            "format": LOCK_FORMAT,
            "packages": {n: self.packages[n].to_json() for n in sorted(self.packages)},
        }


def release_time() -> str:
    """The lock's timestamp format: UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def load_lock(path: Path) -> Lock:
    """Read the lock; a missing file is an empty lock, a broken one an error."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lock()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LockError(
            f"{path} is not valid JSON (line {exc.lineno}): restore it with `git checkout {path.name}`"
        ) from None
    if not isinstance(data, dict) or data.get("format") != LOCK_FORMAT:
        raise LockError(f"{path} is not a format-{LOCK_FORMAT} lock; restore it from git")
    packages = data.get("packages", {})
    return Lock({n: PackagePin.from_json(n, d) for n, d in packages.items()})


def dump_lock(lock: Lock) -> str:
    return json.dumps(lock.to_json(), indent=2, sort_keys=True) + "\n"


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file others read so that it is either old or new, never half written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_lock(path: Path, lock: Lock) -> None:
    atomic_write_text(path, dump_lock(lock))


def update_lock(path: Path, pin: PackagePin) -> Lock:
    """Merge one pin into the lock under an exclusive lock, so concurrent releases lose nothing."""
    import fcntl

    guard = path.parent / f".{path.name}.lock"
    with guard.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        lock = load_lock(path).with_pin(pin)
        save_lock(path, lock)
    return lock
