"""Targets: the runtimes a repository's helpers are released for, declared once.

A target is a base image and the platforms (CPU architectures) its steps run on, named in
``[tool.helperhub.targets.<name>]`` of the releasing repository's ``pyproject.toml``:

    [tool.helperhub.targets.py311]
    base-image = "python:3.11-slim"
    platforms = ["linux/amd64", "linux/arm64"]

What runs there (Python version, implementation, glibc, CPU) is a ``TargetFacts``, read from the
base image of each platform (``helperhub.images.facts.runtime_facts``), never typed by hand; the
resolver picks wheels for it. Pure data and pure functions, so that every layer can use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packaging.markers import default_environment

from helperhub.core import defaults
from helperhub.core.errors import ConfigError

# OCI platform -> what platform.machine() says on it (and the machine of its manylinux tags)
MACHINES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
# wheel tag's implementation -> PEP 508's implementation_name and platform_python_implementation
IMPLEMENTATIONS = {"cp": ("cpython", "CPython"), "pp": ("pypy", "PyPy")}
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]*")
TARGETS = "targets"  # the settings' key, as in [tool.helperhub.targets.<name>]
TARGET_KEYS = ("base-image", "platforms")
_EXAMPLE = ", ".join(f'"{p}"' for p in MACHINES)  # as TOML writes the list


@dataclass(frozen=True)
class TargetSpec:
    """A declared target: a base image (a name, resolved like ``base-image``) and its platforms."""

    name: str
    base_image: str
    platforms: tuple[str, ...]


@dataclass(frozen=True)
class TargetFacts:
    """What runs on one platform of a target: what its closure is resolved for."""

    python: str  # "3.13"
    implementation: str  # "cp" (CPython) or "pp" (PyPy), as in wheel tags
    glibc: tuple[int, int]  # (2, 41)
    machine: str  # "x86_64", "aarch64": platform.machine() there

    @property
    def platform_tags(self) -> tuple[str, ...]:
        """The wheel platform tags that install here, best first (manylinux down to glibc 2.5)."""
        major, minor = self.glibc
        perennial = [f"manylinux_{major}_{m}_{self.machine}" for m in range(minor, 4, -1)]
        legacy = [f"manylinux{tag}_{self.machine}" for tag in ("2014", "2010", "1")]
        return (*perennial, *legacy, f"linux_{self.machine}")

    def marker_environment(self) -> dict[str, str]:
        """PEP 508 marker values here, to tell which requirements apply on this platform."""
        env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
        env.update(python_version=self.python, python_full_version=f"{self.python}.0", sys_platform="linux",
                   platform_system="Linux", platform_machine=self.machine, os_name="posix",
                   implementation_name=IMPLEMENTATIONS[self.implementation][0],
                   platform_python_implementation=IMPLEMENTATIONS[self.implementation][1])
        return env


def default_facts() -> TargetFacts:
    """The facts of the target ``default`` (``TARGET_*`` in defaults): what a repository without
    declared targets releases for, and what a format-2 lock was resolved for."""
    return TargetFacts(defaults.TARGET_PYTHON, defaults.TARGET_IMPLEMENTATION, defaults.TARGET_GLIBC,
                       defaults.TARGET_MACHINE)


def image_tag(version: str, target: str) -> str:
    """The tag of a helper image for ``target``: ``1.2.0-py313``; the target ``default`` (a
    repository without declared targets) keeps the plain version, as before targets."""
    return version if target == defaults.TARGET_NAME else f"{version}-{target}"


def machine_of(platform: str) -> str:
    """``linux/arm64`` -> ``aarch64``."""
    try:
        return MACHINES[platform]
    except KeyError:
        raise ConfigError(f"platform {platform!r} is not supported; use one of {', '.join(MACHINES)}") from None


def platform_of(machine: str) -> str:
    """``aarch64`` -> ``linux/arm64``."""
    for platform, known in MACHINES.items():
        if known == machine:
            return platform
    raise ConfigError(f"machine {machine!r} has no supported platform; use one of {', '.join(MACHINES.values())}")


def checked_facts(spec: TargetSpec, platform: str, facts: TargetFacts) -> TargetFacts:
    """The resolver's target for ``platform`` of ``spec``: the facts read from its base image for
    that platform, which must run that platform's CPU (a base whose index maps the platform to
    another architecture would lock wheels no node of that platform can import)."""
    if platform not in spec.platforms:
        raise ConfigError(f"target {spec.name} has no platform {platform}; it declares {', '.join(spec.platforms)}")
    if facts.machine != machine_of(platform):
        raise ConfigError(
            f"{spec.base_image} for {platform} (target {spec.name}) runs {facts.machine} binaries, "
            f"not {machine_of(platform)}; push a base image whose {platform} manifest is built for it"
        )
    return facts


def parse_targets(value: object, source: str) -> tuple[TargetSpec, ...]:
    """Validate ``[tool.helperhub.targets]`` (``source`` names its file in errors)."""
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"[tool.helperhub] targets in {source} is not a table of targets; "
                          "write [tool.helperhub.targets.<name>] sections")
    return tuple(_target(name, keys, source) for name, keys in value.items())


def _target(name: str, keys: object, source: str) -> TargetSpec:
    where = f"[tool.helperhub.targets.{name}]"
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"target name {name!r} in {source} must match {NAME_PATTERN.pattern}; rename {where}")
    if not isinstance(keys, dict):
        raise ConfigError(f"{where} in {source} is not a table; give it keys {', '.join(TARGET_KEYS)}")
    unknown = sorted(set(keys) - set(TARGET_KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in {where} of {source}; known keys: {', '.join(TARGET_KEYS)}")
    missing = [k for k in TARGET_KEYS if k not in keys]
    if missing:
        raise ConfigError(f"{where} in {source} has no {missing[0]}; give it {', '.join(TARGET_KEYS)}")
    base, platforms = keys["base-image"], keys["platforms"]
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{where} base-image in {source} must be a non-empty string, not {base!r}")
    if not isinstance(platforms, list) or not platforms or not all(isinstance(p, str) for p in platforms):
        raise ConfigError(f"{where} platforms in {source} must be a non-empty list of platforms, "
                          f"e.g. [{_EXAMPLE}]")
    for platform in platforms:
        if platform not in MACHINES:
            raise ConfigError(f"platform {platform!r} of {where} in {source} is not supported; "
                              f"use {' or '.join(MACHINES)}")
    if len(set(platforms)) != len(platforms):
        raise ConfigError(f"{where} platforms in {source} names a platform twice; list each once")
    return TargetSpec(name, base, tuple(platforms))
