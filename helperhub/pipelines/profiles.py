"""Profiles: where pods reach the index and the images (loopback locally, services in a
cluster), chosen by one setting instead of by editing code.

The packaged ones (``profiles.toml``: ``local``, ``cluster``) plus the repository's own
``[tool.helperhub.profiles.<name>]`` in its ``pyproject.toml``: a team adds its clusters there
without forking helperhub; a profile of the same name replaces the packaged one as a whole, so
what a profile means is always written in one place."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helperhub.core.errors import ConfigError
from helperhub.core.settings import PROFILE_KEYS, PROFILES

PROFILES_FILE = Path(__file__).with_name("profiles.toml")
DEFAULT_PROFILE = "local"


@dataclass(frozen=True)
class Profile:
    name: str
    index_url: str | None = None  # None: the index each pin was released to
    image_registry: str | None = None  # None: the registry each image was pushed to
    base_image: str | None = None  # None: the images' base, by digest


def packaged_profiles(path: Path = PROFILES_FILE) -> dict[str, dict[str, Any]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    for name, values in data.items():
        unknown = set(values) - set(PROFILE_KEYS)
        if unknown:
            raise ConfigError(f"profile {name!r} in {path} has unknown keys {sorted(unknown)}")
    return data


def load_profile(name: str, path: Path = PROFILES_FILE, *, settings: Mapping[str, Any] | None = None) -> Profile:
    """The profile ``name``: the repository's (``settings``, from ``repository_settings``) over the packaged."""
    known = {**packaged_profiles(path), **(settings or {}).get(PROFILES, {})}
    if name not in known:
        raise ConfigError(
            f"no profile {name!r} (known: {', '.join(sorted(known))}); choose one, "
            f"or add [tool.helperhub.profiles.{name}] to the repository's pyproject.toml"
        )
    return Profile(name=name, **known[name])


def chosen_profile(name: str | None, settings: Mapping[str, Any]) -> str:
    """The profile asked for, else the repository's default (``profile`` of [tool.helperhub]), else local."""
    default = settings.get("profile")
    return name or (default if isinstance(default, str) else DEFAULT_PROFILE)


def retarget(ref: str, registry: str | None) -> str:
    """Move ``host/repo@digest`` to another registry host; a digest names the same bytes there."""
    if not registry or "/" not in ref:
        return ref
    first, rest = ref.split("/", 1)
    if "." not in first and ":" not in first and first != "localhost":
        return f"{registry.rstrip('/')}/{ref}"  # no registry host in the reference
    return f"{registry.rstrip('/')}/{rest}"
