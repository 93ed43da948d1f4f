"""A step on a locked environment: what it installs (every file the environment locked for the
target and platform) and the team's modules it ships from the working tree.

The helpers stay the step's helpers (their pins are what the step-start check compares); the
environment only widens the install set to its extra packages, and adds the team's modules."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helperhub.core.errors import ConfigError, LockError
from helperhub.core.targets import machine_of
from helperhub.lock.closure import LockedFile
from helperhub.lock.environments import EnvironmentPin
from helperhub.lock.lockfile import Lock
from helperhub.pipelines.env_modules import module_digest


def moved_helpers(env: EnvironmentPin, lock: Lock) -> list[str]:
    """The helpers of ``env`` that ``lock`` no longer pins at the release it was locked with, each
    as ``name version, which is pinned at X now``: the environment is stale."""
    moved = []
    for use in env.helpers:
        pin = lock.get(use.name)
        if pin is None or (pin.version, pin.sha256) != (use.version, use.sha256):
            now = f"pinned at {pin.version}" if pin is not None else "not pinned"
            moved.append(f"{use.name} {use.version}, which is {now} now")
    return moved


def environment_helpers(env: EnvironmentPin, lock: Lock) -> list[str]:
    """The helpers of the environment, as a step names them; each must still be pinned at the
    version the environment was locked with."""
    if moved := moved_helpers(env, lock):
        raise LockError(f"environment {env.name} was locked with {moved[0]}; run `helperhub env lock {env.name}`")
    return [use.requirement for use in env.helpers]


def environment_files(env: EnvironmentPin, target: str, platform: str, *, helpers: bool,
                      helper_names: Sequence[str]) -> list[tuple[LockedFile, str]]:
    """What a step of ``env`` installs on ``platform`` of ``target``: every locked file (without
    the helpers' own wheels when ``helpers`` is false: working-tree modes ship their sources), each
    with a URL of the index folder it lies in."""
    _, locked = env.require_target(target)
    files = locked.files(platform)
    if not files:
        raise LockError(f"environment {env.name} has no files for {platform} of target {target}; "
                        f"run `helperhub env lock {env.name}`")
    beside = env.packages_url()
    skipped = set() if helpers else set(helper_names)
    return [(f, beside) for f in files if f.name not in skipped]


def environment_entries(env: EnvironmentPin, target: str, mode: str,
                        helper_names: Sequence[str]) -> list[dict[str, Any]]:
    """What a step of ``env`` records and checks at its start besides its helpers: every other file
    of the environment, per machine its version and sha256 (the platforms' files differ)."""
    _, locked = env.require_target(target)
    skipped = set(helper_names)
    files: dict[str, dict[str, list[str]]] = {}
    for platform, locked_files in locked.closure.items():
        for f in locked_files:
            if f.name not in skipped:
                files.setdefault(f.name, {})[machine_of(platform)] = [f.version, f.sha256]
    return [{"name": name, "mode": mode, "environment": env.name, "files": files[name]} for name in sorted(files)]


def stage_modules(env: EnvironmentPin, root: Path, dest: Path, *, exact: bool) -> list[Path]:
    """Copy the import packages of the environment's modules from the working tree at ``root`` into
    ``dest`` (shipped with the step); with ``exact``, a module whose source changed since it was
    locked is an error (a released mode runs only what the lock names)."""
    staged = []
    for module in env.modules:
        folder = root / module.path
        if not folder.is_dir():
            raise ConfigError(f"module {module.path} of environment {env.name} is not a folder of {root}")
        if exact and module_digest(folder) != module.source_sha256:
            raise LockError(f"module {module.path} changed since environment {env.name} was locked; "
                            f"run `helperhub env lock {env.name}`")
        for package in import_packages(folder):
            target = dest / package.name
            if target.exists():
                raise ConfigError(f"environment {env.name} ships two packages named {package.name}; rename one")
            shutil.copytree(package, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            staged.append(target)
    return staged


def import_packages(folder: Path) -> list[Path]:
    """The import packages of a module: the folder itself when it is one, else those under its
    ``src/`` (or beside its ``pyproject.toml``)."""
    if (folder / "__init__.py").is_file():
        return [folder]
    base = folder / "src" if (folder / "src").is_dir() else folder
    found = sorted(p for p in base.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
    if not found:
        raise ConfigError(f"module {folder} holds no import package (a folder with __init__.py)")
    return found
