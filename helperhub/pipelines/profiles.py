"""Profiles: where pods reach the index and the images (loopback locally, services in a
cluster), chosen by one setting instead of by editing code."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from helperhub.core.errors import ConfigError

PROFILES_FILE = Path(__file__).with_name("profiles.toml")


@dataclass(frozen=True)
class Profile:
    name: str
    index_url: str | None = None  # None: the index each pin was released to
    image_registry: str | None = None  # None: the registry each image was pushed to
    base_image: str | None = None  # None: the images' base, by digest


def load_profile(name: str, path: Path = PROFILES_FILE) -> Profile:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    if name not in data:
        raise ConfigError(f"no profile {name!r} in {path} (known: {', '.join(sorted(data))})")
    values = data[name]
    unknown = set(values) - {"index_url", "image_registry", "base_image"}
    if unknown:
        raise ConfigError(f"profile {name!r} in {path} has unknown keys {sorted(unknown)}")
    return Profile(name=name, **values)


def retarget(ref: str, registry: str | None) -> str:
    """Move ``host/repo@digest`` to another registry host; a digest names the same bytes there."""
    if not registry or "/" not in ref:
        return ref
    first, rest = ref.split("/", 1)
    if "." not in first and ":" not in first and first != "localhost":
        return f"{registry.rstrip('/')}/{ref}"  # no registry host in the reference
    return f"{registry.rstrip('/')}/{rest}"
