"""Locks with a second target, made from a lock of the one target "default" (the repository's
pins.json before it declared targets, tests/data/pins-default.json), the second added by hand."""

from __future__ import annotations

import dataclasses
import hashlib

from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import ImagePin, Lock, PackagePin, load_lock
from helperhub.lock.target_pins import TargetPin
from tests.conftest import DEFAULT_LOCK

AMD64, ARM64 = "linux/amd64", "linux/arm64"
REGISTRY = "127.0.0.1:5000"
BASE_313 = f"{REGISTRY}/python@sha256:" + "e" * 64  # the index of python:3.13-slim, as if resolved
UV_ARM64 = LockedFile("uv", "0.13.8", "uv-0.13.8-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", "6" * 64)


def digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def retargeted(f: LockedFile, python: str, platform: str) -> LockedFile:
    """``f`` as the lock of ``python`` on ``platform`` would have it: a wheel with a CPython or
    CPU tag becomes another file (its own sha256); a pure wheel stays the same file."""
    tag = f"cp{python.replace('.', '')}"
    machine = "aarch64" if platform == ARM64 else "x86_64"
    name = f.filename.replace("cp311", tag).replace("x86_64", machine)
    return f if name == f.filename else dataclasses.replace(f, filename=name, sha256=digest(name, f.sha256))


def image_of(name: str, target: str, platforms: tuple[str, ...]) -> ImagePin:
    """The image of ``name`` for ``target``: by the digest of an index over ``platforms``."""
    return ImagePin(f"{REGISTRY}/{name}@sha256:{digest(name, target)}", f"{REGISTRY}/{name}:1.0.0-{target}",
                    BASE_313, REGISTRY, {p: f"sha256:{digest(name, target, p)}" for p in platforms})


def with_target(pin: PackagePin, target: str, python: str, platforms: tuple[str, ...]) -> PackagePin:
    """``pin`` with one more target: its default closure retagged for ``python`` on each platform."""
    closure = {p: tuple(retargeted(f, python, p) for f in pin.closure) for p in platforms}
    added = TargetPin(python, "cp", (2, 41), BASE_313, image_of(pin.name, target, platforms), closure)
    return dataclasses.replace(pin, targets={**pin.targets, target: added})


def repo_lock() -> Lock:
    return load_lock(DEFAULT_LOCK)


def two_target_lock(target: str = "py313", python: str = "3.13", platforms: tuple[str, ...] = (AMD64, ARM64)) -> Lock:
    """The repository's lock with every helper also released for ``target`` (uv for arm64 too)."""
    lock = repo_lock()
    pins = {n: with_target(p, target, python, platforms) for n, p in lock.packages.items()}
    return dataclasses.replace(lock, packages=pins).with_tool(UV_ARM64, ARM64)
