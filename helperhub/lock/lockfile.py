"""The lock, ``pins.json``: what each helper release is, byte for byte.

It is read by the pin commands and the component factories and written by releases, so it is
always written atomically (temp file in the same folder, fsync, rename) and deterministically
(sorted keys, fixed indentation) so that git diffs show only real changes.

Format 3 holds each helper per target (``target_pins.TargetPin``: facts, base, image, a closure
per platform) and the tools per platform; a format-2 lock reads as the one target ``default``.
Format 4 adds the locked environments (``environments.EnvironmentPin``); a lock without any is
still written as format 3, so that an older helperhub reads it, and never drops environments it
does not know.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from helperhub.core import defaults
from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import LockError
from helperhub.core.fs import atomic_write_text
from helperhub.core.targets import MACHINES, default_facts, machine_of
from helperhub.lock.closure import LockedFile
from helperhub.lock.environments import EnvironmentPin
from helperhub.lock.target_pins import FIX, TargetPin
from helperhub.lock.target_pins import ImagePin as ImagePin  # its callers import it from here

LOCK_FORMAT = 4  # 4: with environments; 3: per target and platform; 2: one closure and tools
PLAIN_FORMAT = 3  # what a lock without environments is written as
READS = (1, 2, PLAIN_FORMAT, LOCK_FORMAT)  # an older lock is read as the one target "default"; a release rewrites it
# a pin's own values, as the lock writes them (beside requires, depends and its targets)
SCALARS = ("version", "wheel", "sha256", "url", "index_url", "kfp_version", "commit", "released_at",
           "source_sha256", "sdist", "sdist_sha256")


@dataclass(frozen=True)
class PackagePin:
    """One released version of one helper package, for each target it was released for.

    ``closure`` and ``image`` are those of the default target, on its first platform: what the
    release and the steps use until they pick a target (``with_closure``/``with_image`` set them)."""

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
    # every distribution installed with it (kfp and the helpers it depends on included) and its
    # image, per target: resolved at release for each target's platforms, what steps install
    targets: dict[str, TargetPin] = field(default_factory=dict)
    default_target: str = ""  # the target steps use unless they name one; "" without targets

    def __post_init__(self) -> None:
        default = self.default_target or next(iter(self.targets), "")
        if (default in self.targets) != bool(self.targets):
            raise LockError(f"pins.json entry {self.name!r} has the default target {default!r} but the targets "
                            f"{sorted(self.targets)}; {FIX}")
        order = [default, *sorted(set(self.targets) - {default})] if self.targets else []
        object.__setattr__(self, "default_target", default)  # normalised: the default first, then sorted
        object.__setattr__(self, "targets", {n: self.targets[n] for n in order})
        object.__setattr__(self, "requires", tuple(self.requires))
        object.__setattr__(self, "depends", tuple(self.depends))

    @property
    def closure(self) -> tuple[LockedFile, ...]:
        """The default target's closure on its first platform (``()`` before closures were locked)."""
        target = self.targets.get(self.default_target)
        return target.files() if target else ()

    @property
    def image(self) -> ImagePin | None:
        """The default target's image."""
        target = self.targets.get(self.default_target)
        return target.image if target else None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {k: getattr(self, k) for k in SCALARS}
        data["requires"] = list(self.requires)
        data["depends"] = list(self.depends)
        data["targets"] = {n: t.to_json() for n, t in self.targets.items()}
        if self.targets:
            data["default_target"] = self.default_target
        return data

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any], fmt: int = LOCK_FORMAT) -> PackagePin:
        """Read one entry; one of a format-1 or -2 lock is read as the single target ``default``."""
        nested = ("targets", "default_target") if fmt >= 3 else ("closure", "image")
        unknown = set(data) - {*SCALARS, "requires", "depends", *nested}
        if unknown:
            raise LockError(
                f"pins.json entry {name!r} has unknown keys {sorted(unknown)}; "
                "upgrade helperhub or fix the entry"
            )
        try:
            values = {k: v for k, v in data.items() if k not in ("requires", "depends", *nested)}
            requires, depends = tuple(data.get("requires", ())), tuple(data.get("depends", ()))
            if fmt < 3:
                image = data.get("image")
                pin = cls(name=name, **values, requires=requires, depends=depends).with_closure(
                    tuple(LockedFile.from_json(name, f) for f in data.get("closure", ())))
                return pin.with_image(ImagePin.from_json(name, image)) if image else pin
            targets = data.get("targets", {})
            if not isinstance(targets, dict):
                raise LockError(f"pins.json entry {name!r} has targets that are not a table; {FIX}")
            return cls(name=name, **values, requires=requires, depends=depends,
                       targets={t: TargetPin.from_json(name, t, d) for t, d in targets.items()},
                       default_target=data.get("default_target", ""))
        except TypeError as exc:
            raise LockError(f"pins.json entry {name!r} is incomplete ({exc}); re-run the release") from None

    def with_image(self, image: ImagePin | None) -> PackagePin:
        """The pin with ``image`` as its default target's (built from that target's base)."""
        if image is None and not self.targets:
            return self
        return self._with_default(lambda t: replace(t, image=image,
                                                    base_image=(image.base_image if image else "") or t.base_image))

    def with_closure(self, files: tuple[LockedFile, ...]) -> PackagePin:
        """The pin with ``files`` as its default target's closure on its first platform."""
        if not files and not self.targets:
            return self

        def update(target: TargetPin) -> TargetPin:
            platform = next(iter(target.platforms), defaults.TARGET_PLATFORM)
            kept = {p: f for p, f in target.closure.items() if p != platform}
            return replace(target, closure={**kept, platform: tuple(files)} if files else kept)

        return self._with_default(update)

    def _with_default(self, update: Callable[[TargetPin], TargetPin]) -> PackagePin:
        """The pin with its default target changed by ``update``. Without targets, that is the
        target ``default``, resolved for ``TARGET_*`` (a format-2 lock's pin, or today's release's)."""
        name = self.default_target or defaults.TARGET_NAME
        target = self.targets.get(name) or TargetPin.of(default_facts())
        return replace(self, targets={**self.targets, name: update(target)}, default_target=name)

    def require_target(self, name: str | None = None) -> TargetPin:
        """The target ``name`` (None: the default); one the pin lacks is an error naming those it has."""
        key = name or self.default_target
        target = self.targets.get(key)
        if target is None:
            raise LockError(f"the pin of {self.name} {self.version} has no target {key!r}; it has "
                            f"{', '.join(self.targets) or 'none'}: re-release it for that target, or pick one of them")
        return target

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
    """All pins, keyed by normalised package name, and the tools steps bootstrap.

    ``tools`` are the tools of the first platform each is pinned for; ``platform_tools`` holds them
    all (``with_tool`` adds one)."""

    packages: dict[str, PackagePin] = field(default_factory=dict)
    # the installers steps and image builds bootstrap (``uv``), pinned like the closure: per platform
    platform_tools: dict[str, dict[str, LockedFile]] = field(default_factory=dict)
    environments: dict[str, EnvironmentPin] = field(default_factory=dict)  # by name

    def __post_init__(self) -> None:
        object.__setattr__(self, "platform_tools", {  # platforms in MACHINES order: amd64 first
            n: {p: files[p] for p in MACHINES if p in files} for n, files in self.platform_tools.items() if files
        })

    @property
    def tools(self) -> dict[str, LockedFile]:
        """Each tool's file on the first platform it is pinned for (amd64 first)."""
        return {n: next(iter(files.values())) for n, files in self.platform_tools.items()}

    def get(self, name: str) -> PackagePin | None:
        return self.packages.get(name)

    def require(self, name: str, *, fix: str) -> PackagePin:
        pin = self.packages.get(name)
        if pin is None:
            raise LockError(f"no pin for {name!r} in {LOCK_NAME}; run `{fix}`")
        return pin

    def with_pin(self, pin: PackagePin) -> Lock:
        return replace(self, packages={**self.packages, pin.name: pin})

    def with_environment(self, env: EnvironmentPin) -> Lock:
        return replace(self, environments={**self.environments, env.name: env})

    def require_environment(self, name: str) -> EnvironmentPin:
        env = self.environments.get(name)
        if env is None:
            raise LockError(f"no environment {name!r} in {LOCK_NAME}; declare it under "
                            f"[tool.helperhub.environments.{name}] and run `helperhub env lock {name}`")
        return env

    def with_tool(self, tool: LockedFile, platform: str = defaults.TARGET_PLATFORM) -> Lock:
        """The lock with ``tool`` (uv) pinned for ``platform``."""
        machine_of(platform)  # a known platform, or an error
        tools = {**self.platform_tools, tool.name: {**self.platform_tools.get(tool.name, {}), platform: tool}}
        return replace(self, platform_tools=tools)

    def require_tool(self, name: str, platform: str | None = None) -> LockedFile:
        """A pinned tool (on ``platform``; None: its first); without one, the error says how to get it."""
        files = self.platform_tools.get(name, {})
        tool = files.get(platform) if platform else next(iter(files.values()), None)
        if tool is None:
            raise LockError(f"{LOCK_NAME} pins no {name}{f' for {platform}' if platform else ''}; run `make release` "
                            f"(it mirrors and pins {name}), or choose installer='pip'")
        return tool

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": LOCK_FORMAT if self.environments else PLAIN_FORMAT,
            "packages": {n: self.packages[n].to_json() for n in sorted(self.packages)},
        }
        if self.environments:
            data["environments"] = {n: self.environments[n].to_json() for n in sorted(self.environments)}
        if self.platform_tools:
            data["tools"] = {n: {p: f.to_json() for p, f in files.items()}
                             for n, files in sorted(self.platform_tools.items())}
        return data


def pin_released_wheel(
    previous: PackagePin | None, *, name: str, version: str, wheel: str, sha256: str, url: str, index_url: str,
    kfp_version: str, sdist: str = "", sdist_sha256: str = "", requires: Iterable[str] = (),
    depends: Iterable[str] = (), closure: tuple[LockedFile, ...] = (), commit: str = "", source_sha256: str = "",
    targets: dict[str, TargetPin] | None = None,
) -> PackagePin:
    """The pin of a released wheel, by one rule for the release and for ``pins bump``.

    The lock's earlier pin of the same wheel (same version and sha256) is the same release: its
    commit, release time and image stay, so that releasing or bumping it again leaves its entry
    byte for byte (the source digest is the caller's when it knows one). Any other wheel is a new
    release, made now: the caller's commit and source digest (or none), and no image yet.

    ``targets``: the release's targets in order, the first the default (their images are kept as
    above, target by target, where the runtime is the same); without: ``closure`` is the one target
    ``default``'s."""
    same = previous is not None and (previous.version, previous.sha256) == (version, sha256)
    if targets is not None:
        kept = {n: _kept_image(t, previous.targets.get(n) if same and previous else None) for n, t in targets.items()}
        closure, targets = (), kept
    pin = PackagePin(
        name=name, version=version, wheel=wheel, sha256=sha256, url=url, index_url=index_url,
        kfp_version=kfp_version,
        commit=(previous.commit or commit) if same and previous else commit,
        released_at=previous.released_at if same and previous else release_time(),
        source_sha256=source_sha256 or (previous.source_sha256 if same and previous else ""),
        sdist=sdist, sdist_sha256=sdist_sha256, requires=tuple(requires), depends=tuple(depends),
        targets=dict(targets or {}), default_target=next(iter(targets or {}), ""),
    )
    if targets:
        return pin
    return pin.with_closure(closure).with_image(previous.image if same and previous else None)


def _kept_image(target: TargetPin, previous: TargetPin | None) -> TargetPin:
    """``target`` with the image of the same release's earlier pin of it, if it ran the same runtime."""
    if previous is None or previous.image is None or (target.python, target.implementation, target.glibc) != (
        previous.python, previous.implementation, previous.glibc
    ) or target.closure != previous.closure:
        return target
    return replace(target, image=previous.image, base_image=previous.base_image or target.base_image)


def dependency_roots(lock: Lock, names: Iterable[str], *, required: bool = False, target: str | None = None,
                     platform: str | None = None) -> tuple[list[str], list[LockedFile]]:
    """The helpers a helper depends on, as roots of its resolution, and the files it must keep.

    A pinned helper is a root with every extra its locked closure was resolved for (its image holds
    them all), and its wheel and closure are kept, so that one step can install both. An unpinned
    one is an error when ``required`` (a release needs its dependencies released first), else a
    bare root resolved from the index (``pins bump`` in a repository that pins only some helpers).
    ``target``/``platform``: whose closure to keep (None: the default target's first platform); a
    required dependency not released for that target is an error that says so."""
    roots: list[str] = []
    locked: list[LockedFile] = []
    for raw in names:
        name = canonicalize_name(raw)
        dep = lock.require(name, fix=f"make release PACKAGE={name}") if required else lock.get(name)
        if dep is None:
            roots.append(name)
            continue
        if target is None:
            files = dep.require_closure() if required else dep.closure
        else:  # a dependency not pinned for that target keeps no files, unless it is required
            there = dep.require_target(target) if required else dep.targets.get(target)
            files = there.files(platform) if there else ()
            if required and not files:
                raise LockError(f"the pin of {dep.name} {dep.version} has no closure for target {target} on "
                                f"{platform}; release it for that target first: make release PACKAGE={dep.name}")
        extras = sorted({e for f in files for e in f.extras})
        roots.append(f"{dep.name}[{','.join(extras)}]" if extras else dep.name)
        locked.extend([dep.wheel_file(), *files])
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
    packages, tools, envs = data.get("packages", {}), data.get("tools", {}), data.get("environments", {})
    if not isinstance(packages, dict) or not isinstance(tools, dict) or not isinstance(envs, dict) or not all(
        isinstance(d, dict) for d in (*packages.values(), *tools.values())
    ):
        raise LockError(f"{source} has no table of packages and tools; restore it from git")
    pins = {n: PackagePin.from_json(n, d, fmt) for n, d in packages.items()}
    if fmt < 3:  # one file per tool, for the one platform there was
        return Lock(pins, {n: {defaults.TARGET_PLATFORM: LockedFile.from_json(n, d)} for n, d in tools.items()})
    if not all(set(files) <= set(MACHINES) for files in tools.values()):
        raise LockError(f"{source} pins tools for platforms other than {' and '.join(MACHINES)}; "
                        "upgrade helperhub, or restore it from git")
    return Lock(pins, platform_tools={
        n: {p: LockedFile.from_json(n, f) for p, f in files.items()} for n, files in tools.items()
    }, environments={n: EnvironmentPin.from_json(n, d) for n, d in envs.items()})


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


def record_image_in_lock(path: Path, name: str, version: str, image: ImagePin, target: str | None = None) -> Lock:
    """Record the image of ``name`` (for ``target``; None: its default) in the lock, if the lock
    still pins that version."""

    def change(lock: Lock) -> Lock:
        pin = lock.get(name)
        if pin is None or pin.version != version:
            return lock
        if target is None or target == pin.default_target:
            return lock if pin.image == image else lock.with_pin(pin.with_image(image))
        old = pin.require_target(target)
        if old.image == image:
            return lock
        new = replace(old, image=image, base_image=image.base_image or old.base_image)
        return lock.with_pin(replace(pin, targets={**pin.targets, target: new}))

    return modify_lock(path, change)
