"""The lock, ``pins.json``: what each helper release is, byte for byte.

It is read by the pin commands and the component factories and written by releases, so it is
always written atomically (temp file in the same folder, fsync, rename) and deterministically
(sorted keys, fixed indentation) so that git diffs show only real changes.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import LockError
from helperhub.core.fs import atomic_write_text
from helperhub.lock.closure import LockedFile

LOCK_FORMAT = 2  # 2: closures and tools
READS = (1, LOCK_FORMAT)  # a format-1 lock (no closures) is still read; a release rewrites it


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
    # every distribution installed with it (kfp and the helpers it depends on included), resolved
    # once at release for the steps' platform: what package mode and the image install, no more
    closure: tuple[LockedFile, ...] = ()
    image: ImagePin | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["name"]
        data["requires"] = list(self.requires)
        data["depends"] = list(self.depends)
        data["closure"] = [f.to_json() for f in self.closure]
        if not self.closure:
            del data["closure"]
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
                **{k: v for k, v in data.items() if k not in ("image", "requires", "depends", "closure")},
                requires=tuple(data.get("requires", ())),
                depends=tuple(data.get("depends", ())),
                closure=tuple(LockedFile.from_json(name, f) for f in data.get("closure", ())),
                image=ImagePin(**image) if image else None,
            )
        except TypeError as exc:
            raise LockError(f"pins.json entry {name!r} is incomplete ({exc}); re-run the release") from None

    def with_image(self, image: ImagePin) -> PackagePin:
        return replace(self, image=image)

    def wheel_file(self) -> LockedFile:
        """The helper's own wheel as a file of a closure (a dependent helper's, or a step's)."""
        return LockedFile(self.name, self.version, self.wheel, self.sha256)

    def require_closure(self) -> tuple[LockedFile, ...]:
        """The locked closure; a pin from before closures were locked cannot say what to install."""
        if not self.closure:
            raise LockError(
                f"the pin of {self.name} {self.version} has no locked closure; "
                f"re-run `make release PACKAGE={self.name}` or `helperhub pins bump {self.name} {self.version}`"
            )
        return self.closure


@dataclass(frozen=True)
class Lock:
    """All pins, keyed by normalised package name."""

    packages: dict[str, PackagePin] = field(default_factory=dict)
    # the installers steps and image builds bootstrap, pinned like the closure (``uv``)
    tools: dict[str, LockedFile] = field(default_factory=dict)

    def get(self, name: str) -> PackagePin | None:
        return self.packages.get(name)

    def require(self, name: str, *, fix: str) -> PackagePin:
        pin = self.packages.get(name)
        if pin is None:
            raise LockError(f"no pin for {name!r} in {LOCK_NAME}; run `{fix}`")
        return pin

    def with_pin(self, pin: PackagePin) -> Lock:
        return replace(self, packages={**self.packages, pin.name: pin})

    def with_tool(self, tool: LockedFile) -> Lock:
        """The lock with ``tool`` (uv) pinned."""
        return replace(self, tools={**self.tools, tool.name: tool})

    def require_tool(self, name: str) -> LockedFile:
        """A pinned tool; without one, the error says how to get it."""
        tool = self.tools.get(name)
        if tool is None:
            raise LockError(f"{LOCK_NAME} pins no {name}; run `make release` (it mirrors and pins {name}), "
                            f"or choose installer='pip'")
        return tool

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": LOCK_FORMAT,
            "packages": {n: self.packages[n].to_json() for n in sorted(self.packages)},
        }
        if self.tools:
            data["tools"] = {n: self.tools[n].to_json() for n in sorted(self.tools)}
        return data


def pin_released_wheel(
    previous: PackagePin | None, *, name: str, version: str, wheel: str, sha256: str, url: str, index_url: str,
    kfp_version: str, sdist: str = "", sdist_sha256: str = "", requires: Iterable[str] = (),
    depends: Iterable[str] = (), closure: tuple[LockedFile, ...] = (), commit: str = "", source_sha256: str = "",
) -> PackagePin:
    """The pin of a released wheel, by one rule for the release and for ``pins bump``.

    The lock's earlier pin of the same wheel (same version and sha256) is the same release: its
    commit, release time and image stay, so that releasing or bumping it again leaves its entry
    byte for byte (the source digest is the caller's when it knows one). Any other wheel is a new
    release, made now: the caller's commit and source digest (or none), and no image yet."""
    same = previous is not None and (previous.version, previous.sha256) == (version, sha256)
    return PackagePin(
        name=name, version=version, wheel=wheel, sha256=sha256, url=url, index_url=index_url,
        kfp_version=kfp_version,
        commit=(previous.commit or commit) if same and previous else commit,
        released_at=previous.released_at if same and previous else release_time(),
        source_sha256=source_sha256 or (previous.source_sha256 if same and previous else ""),
        sdist=sdist, sdist_sha256=sdist_sha256, requires=tuple(requires), depends=tuple(depends), closure=closure,
        image=previous.image if same and previous else None,
    )


def dependency_roots(lock: Lock, names: Iterable[str], *, required: bool = False) -> tuple[list[str], list[LockedFile]]:
    """The helpers a helper depends on, as roots of its resolution, and the files it must keep.

    A pinned helper is a root with every extra its locked closure was resolved for (its image holds
    them all), and its wheel and closure are kept, so that one step can install both. An unpinned
    one is an error when ``required`` (a release needs its dependencies released first), else a
    bare root resolved from the index (``pins bump`` in a repository that pins only some helpers)."""
    roots: list[str] = []
    locked: list[LockedFile] = []
    for raw in names:
        name = canonicalize_name(raw)
        dep = lock.require(name, fix=f"make release PACKAGE={name}") if required else lock.get(name)
        if dep is None:
            roots.append(name)
            continue
        extras = sorted({e for f in dep.closure for e in f.extras})
        roots.append(f"{dep.name}[{','.join(extras)}]" if extras else dep.name)
        locked.extend([dep.wheel_file(), *(dep.require_closure() if required else dep.closure)])
    return roots, locked


def release_time() -> str:
    """The lock's timestamp format: UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def load_lock(path: Path) -> Lock:
    """Read the lock; a missing file is an empty lock, a broken one an error."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Lock()
    return parse_lock(raw, str(path))


def parse_lock(raw: str, source: str) -> Lock:
    """Parse a lock's text (``source`` names it in errors: a path, or a git revision's file)."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise LockError(
            f"{source} is not valid JSON (line {exc.lineno}): restore it with `git checkout {LOCK_NAME}`"
        ) from None
    fmt = data.get("format") if isinstance(data, dict) else None
    if type(fmt) is int and fmt > LOCK_FORMAT:  # not bool: True == 1
        raise LockError(f"{source} is a format-{fmt} lock, written by a newer helperhub; "
                        "upgrade helperhub (pip install -U helperhub)")
    if not isinstance(data, dict) or type(fmt) is not int or fmt not in READS:
        raise LockError(f"{source} is not a format-{LOCK_FORMAT} lock; restore it from git")
    packages, tools = data.get("packages", {}), data.get("tools", {})
    if not isinstance(packages, dict) or not isinstance(tools, dict) or not all(
        isinstance(d, dict) for d in packages.values()
    ):
        raise LockError(f"{source} has no table of packages and tools; restore it from git")
    return Lock({n: PackagePin.from_json(n, d) for n, d in packages.items()},
                {n: LockedFile.from_json(n, d) for n, d in tools.items()})


def dump_lock(lock: Lock) -> str:
    return json.dumps(lock.to_json(), indent=2, sort_keys=True) + "\n"


def save_lock(path: Path, lock: Lock) -> None:
    atomic_write_text(path, dump_lock(lock))


def modify_lock(path: Path, change: Callable[[Lock], Lock]) -> Lock:
    """Read, change and write the lock under an exclusive file lock, so that concurrent
    releases (of different helpers, or the wheel and image stages) lose no update. A lock whose
    text would not change is not written again (an unchanged re-release does not fsync it)."""
    guard = path.parent / f".{path.name}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with guard.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            raw: str | None = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raw = None
        lock = change(Lock() if raw is None else parse_lock(raw, str(path)))
        if (text := dump_lock(lock)) != raw:
            atomic_write_text(path, text)
    return lock


def update_lock(path: Path, pin: PackagePin) -> Lock:
    """Merge one pin into the lock."""
    return modify_lock(path, lambda lock: lock.with_pin(pin))


def record_image_in_lock(path: Path, name: str, version: str, image: ImagePin) -> Lock:
    """Record the image of ``name`` in the lock, if the lock still pins that version."""

    def change(lock: Lock) -> Lock:
        pin = lock.get(name)
        if pin is None or pin.version != version or pin.image == image:
            return lock
        return lock.with_pin(pin.with_image(image))

    return modify_lock(path, change)
