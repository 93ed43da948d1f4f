"""The team's own modules in an environment: folders of its repository, each a distribution.

A module is a package folder (``src/team_scoring`` with an ``__init__.py``: the distribution is
named after the folder) or a folder with a ``pyproject.toml`` (named by its ``[project]``). Its
identity is the hash of its files, so that a lock or an image names exactly the code it holds."""

from __future__ import annotations

import hashlib
import os
import tomllib
from pathlib import Path

from packaging.utils import canonicalize_name

from helperhub.core.errors import ConfigError
from helperhub.lock.environments import ModulePin

SKIPPED_DIRS = frozenset({"__pycache__", "build", "dist", ".git", ".venv", ".pytest_cache", ".mypy_cache"})
SKIPPED_SUFFIXES = (".pyc", ".pyo")


def module_files(folder: Path) -> list[Path]:
    """The module's source files, sorted (build outputs and caches aside)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS and not d.endswith(".egg-info"))
        out += [Path(dirpath, f) for f in sorted(filenames) if not f.endswith(SKIPPED_SUFFIXES)]
    return sorted(out, key=lambda p: p.relative_to(folder).as_posix())


def module_digest(folder: Path) -> str:
    """sha256 over the module's files (relative path and content)."""
    digest = hashlib.sha256()
    for path in module_files(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def module_name(folder: Path, path: str) -> str:
    """The distribution name of the module at ``folder`` (``path`` as declared, for errors)."""
    project = folder / "pyproject.toml"
    if project.is_file():
        try:
            name = tomllib.loads(project.read_text(encoding="utf-8"))["project"]["name"]
        except (tomllib.TOMLDecodeError, KeyError, TypeError):
            raise ConfigError(f"module {path}: its pyproject.toml has no [project] name; give it one") from None
        return canonicalize_name(str(name))
    if (folder / "__init__.py").is_file():
        return canonicalize_name(folder.name)
    raise ConfigError(f"module {path} is neither a package folder (with __init__.py) nor a folder with a "
                      "pyproject.toml; point modules at one of them")


def module_requirements(root: Path, path: str) -> list[str]:
    """The third-party requirements a module with a ``pyproject.toml`` declares (its ``[project]``
    dependencies): resolved into the environment with its packages. A package folder declares none."""
    project = root / path / "pyproject.toml"
    if not project.is_file():
        return []
    try:
        table = tomllib.loads(project.read_text(encoding="utf-8")).get("project", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"module {path}: its pyproject.toml is not valid TOML ({exc}); fix it") from None
    if "dependencies" in table.get("dynamic", []):
        raise ConfigError(f"module {path} declares its dependencies as dynamic; list them in [project] dependencies")
    deps = table.get("dependencies", [])
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise ConfigError(f"module {path}: [project] dependencies must be a list of requirement strings")
    return deps


def module_pin(root: Path, path: str) -> ModulePin:
    """The declared module ``path`` of the repository at ``root``, by name and source hash."""
    folder = root / path
    if not folder.is_dir():
        raise ConfigError(f"module {path} is not a folder of {root}; fix modules in pyproject.toml")
    return ModulePin(path, module_name(folder, path), module_digest(folder))
