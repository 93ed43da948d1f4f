"""Helper packages of the repository: one PEP 621 project per folder under ``helpers/``."""

from __future__ import annotations

import hashlib
import subprocess
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from helperhub.core.errors import ConfigError

HELPERS_DIR = "helpers"


@dataclass(frozen=True)
class HelperProject:
    """A helper package's source tree and what its ``pyproject.toml`` declares."""

    name: str  # canonical, e.g. tabular-helpers
    path: Path
    import_name: str
    requires: tuple[str, ...]
    extras: tuple[str, ...]

    @property
    def version_source(self) -> Path:
        return self.path / "src" / self.import_name / "__init__.py"

    @property
    def src(self) -> Path:
        return self.path / "src"

    @property
    def tests(self) -> Path:
        return self.path / "tests"

    @cached_property
    def extra_requires(self) -> tuple[str, ...]:
        """Requirements of all extras, without markers, as pods may install any extra."""
        data = tomllib.loads((self.path / "pyproject.toml").read_text(encoding="utf-8"))
        groups = data["project"].get("optional-dependencies", {})
        return tuple(r for extra in sorted(groups) for r in groups[extra])

    def local_deps(self, names: set[str]) -> tuple[str, ...]:
        """Names of the repository's other helpers that this one depends on."""
        deps = {canonicalize_name(Requirement(r).name) for r in self.requires}
        return tuple(sorted(deps & names))


def load_project(path: Path) -> HelperProject:
    pyproject = path / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        project = data["project"]
        name = canonicalize_name(project["name"])
        requires = tuple(project.get("dependencies", ()))
        for req in requires:
            Requirement(req)
    except FileNotFoundError:
        raise ConfigError(f"{path} has no pyproject.toml; each helper is its own project") from None
    except (KeyError, tomllib.TOMLDecodeError, InvalidRequirement) as exc:
        raise ConfigError(f"{pyproject} is not a valid PEP 621 project ({exc}); fix it") from None
    import_name = name.replace("-", "_")
    if not (path / "src" / import_name / "__init__.py").is_file():
        raise ConfigError(f"{path} has no src/{import_name}/__init__.py; use the src layout")
    extras = tuple(sorted(project.get("optional-dependencies", {})))
    return HelperProject(name, path, import_name, requires, extras)


def discover(root: Path) -> dict[str, HelperProject]:
    """All helper projects of the repository, keyed by canonical name."""
    base = root / HELPERS_DIR
    if not base.is_dir():
        raise ConfigError(f"{root} has no {HELPERS_DIR}/ folder; run from the repository root")
    found = [load_project(p) for p in sorted(base.iterdir()) if (p / "pyproject.toml").is_file()]
    return {p.name: p for p in found}


def select(projects: dict[str, HelperProject], name: str) -> HelperProject:
    key = canonicalize_name(name)
    if key not in projects:
        known = ", ".join(sorted(projects)) or "none"
        raise ConfigError(f"no helper package {name!r} under {HELPERS_DIR}/ (known: {known})")
    return projects[key]


def release_order(projects: dict[str, HelperProject], wanted: list[str]) -> list[HelperProject]:
    """The wanted projects and nothing else, each after the local helpers it depends on."""
    names = set(projects)
    order: list[HelperProject] = []
    state: dict[str, str] = {}

    def visit(name: str) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise ConfigError(f"helper packages depend on each other in a cycle through {name}")
        state[name] = "visiting"
        for dep in projects[name].local_deps(names):
            visit(dep)
        state[name] = "done"
        order.append(projects[name])

    chosen = [select(projects, w).name for w in wanted] if wanted else sorted(projects)
    for name in chosen:
        visit(name)
    return [p for p in order if p.name in chosen]


def source_digest(project: HelperProject) -> str:
    """sha256 over the git-tracked files of a project (path and content): its source identity."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--", "."],
        cwd=project.path, capture_output=True, check=True,
    ).stdout
    digest = hashlib.sha256()
    for rel in sorted(filter(None, out.decode().split("\0"))):
        file = project.path / rel
        digest.update(rel.encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).digest() if file.exists() else b"-")
    return digest.hexdigest()
