"""A step's environment as a team declares it in ``pyproject.toml``: the helpers it runs on, the
third-party packages and the team's own modules it adds, and the targets it runs on.

    [tool.helperhub.environments.scoring]
    helpers  = ["tabular-helpers[model]", "vision-helpers"]
    packages = ["lightgbm>=4.3,<5"]
    modules  = ["src/team_scoring"]
    targets  = ["py311"]

Only the declaration: ``env lock`` turns it into exact files per target and platform."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from helperhub.core.errors import ConfigError
from helperhub.core.targets import NAME_PATTERN

ENVIRONMENTS = "environments"
KEYS = ("helpers", "packages", "modules", "targets")
ENV_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")  # also an image repository's last part


@dataclass(frozen=True)
class EnvironmentSpec:
    """One declared environment; helper names and packages as written (normalised names)."""

    name: str
    helpers: tuple[str, ...]  # "tabular-helpers[model]": a name and extras, never a version
    packages: tuple[str, ...] = ()  # PEP 508 requirements of third-party packages
    modules: tuple[str, ...] = ()  # folders of the repository, relative, POSIX
    targets: tuple[str, ...] = ()  # () : every target all its helpers were released for

    def helper_requirements(self) -> tuple[Requirement, ...]:
        return tuple(Requirement(h) for h in self.helpers)

    @property
    def helper_names(self) -> tuple[str, ...]:
        return tuple(canonicalize_name(r.name) for r in self.helper_requirements())


def parse_environments(value: object, source: str) -> dict[str, EnvironmentSpec]:
    """``[tool.helperhub.environments.<name>]`` tables, validated; one line per mistake."""
    if not isinstance(value, dict):
        raise ConfigError(f"[tool.helperhub] environments in {source} is not a table; write "
                          "[tool.helperhub.environments.<name>] sections")
    return {str(name): _environment(str(name), keys, source) for name, keys in sorted(value.items())}


def _environment(name: str, keys: object, source: str) -> EnvironmentSpec:
    where = f"[tool.helperhub.environments.{name}] in {source}"
    if not ENV_NAME.fullmatch(name):
        raise ConfigError(f"{where}: name it with lower-case letters, digits and dashes (e.g. 'scoring')")
    if not isinstance(keys, dict):
        raise ConfigError(f"{where} is not a table; give it keys {', '.join(KEYS)}")
    unknown = sorted(set(keys) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in {where}; known keys: {', '.join(KEYS)}")
    lists = {k: _strings(keys.get(k, []), f"{where} {k}") for k in KEYS}
    if not lists["helpers"]:
        raise ConfigError(f"{where} names no helper; an environment starts from at least one released helper")
    helpers = tuple(_helper(h, where) for h in lists["helpers"])
    if len({Requirement(h).name for h in helpers}) != len(helpers):
        raise ConfigError(f"{where} names a helper twice; name it once, with every extra it needs")
    packages = tuple(_package(p, where) for p in lists["packages"])
    modules = tuple(_module(m, where) for m in lists["modules"])
    for target in lists["targets"]:
        if not NAME_PATTERN.fullmatch(target):
            raise ConfigError(f"{where} targets: {target!r} is not a target name like 'py311'")
    return EnvironmentSpec(name, helpers, packages, modules, tuple(dict.fromkeys(lists["targets"])))


def _strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{what} must be a list of non-empty strings, not {value!r}")
    return [v.strip() for v in value]


def _helper(text: str, where: str) -> str:
    try:
        req = Requirement(text)
    except InvalidRequirement:
        raise ConfigError(f"{where} helpers: {text!r} is not a helper name like 'tabular-helpers[model]'") from None
    if req.specifier or req.url or req.marker:
        raise ConfigError(f"{where} helpers: {text!r} names a version; the version comes from pins.json "
                          "(`helperhub pins bump`)")
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{canonicalize_name(req.name)}{extras}"


def _package(text: str, where: str) -> str:
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        said = str(exc).splitlines()[0]  # packaging points at the column on further lines
        raise ConfigError(f"{where} packages: {text!r} is not a PEP 508 requirement ({said})") from None
    if req.url:
        raise ConfigError(f"{where} packages: {text!r} is a URL; name a package of an index (the team's own "
                          "code goes under modules)")
    return str(req)


def _module(text: str, where: str) -> str:
    path = PurePosixPath(text)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ConfigError(f"{where} modules: {text!r} must be a folder inside the repository, like 'src/team_scoring'")
    return path.as_posix()
