"""A repository's own helperhub settings: the ``[tool.helperhub]`` table of its ``pyproject.toml``.

A team's pipeline repository configures its index, OCI registry, base image and profiles once,
in the file it already has, instead of in flags or environment variables on every call. Reads
files and returns validated values; the CLI and the factories decide precedence, and both find
the file with ``repository_settings``.

    [tool.helperhub]
    index-url = "https://pypi.example.org"
    oci-registry = "registry.example.org"
    base-image = "python:3.11-slim"
    image-user = "10001:10001"   # clusters that enforce runAsNonRoot; default root
    profile = "staging"

    [tool.helperhub.targets.py311]   # the runtimes a release is for (the first: steps' default)
    base-image = "python:3.11-slim"
    platforms = ["linux/amd64", "linux/arm64"]

    [tool.helperhub.trusted-keys]   # whose signatures `pins bump` and `pins check --verify` accept
    "*-helpers" = "<base64 of the releasing team's ed25519 public key>"

    [tool.helperhub.profiles.staging]
    index_url = "http://pypi.staging.svc:8080/simple/"
    image_registry = "registry.staging.svc:5000"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from helperhub.core.envspec import ENVIRONMENTS, parse_environments
from helperhub.core.errors import ConfigError, GitError
from helperhub.core.git import repo_root
from helperhub.core.targets import TARGETS, parse_targets

PYPROJECT = "pyproject.toml"
TABLE = "[tool.helperhub]"
# key in pyproject.toml -> the name the settings (and the CLI's parameters) use
KEYS = {
    "index-url": "index_url", "oci-registry": "oci_registry", "base-image": "base_image", "image-user": "image_user",
    "profile": "profile",
}
PROFILES = "profiles"
# project-name glob -> the public key (base64, PEM or a key file) its releases must be signed with
TRUSTED_KEYS = "trusted-keys"
# the keys of a profile, as in helperhub/pipelines/profiles.toml (``Profile``'s fields)
PROFILE_KEYS = ("index_url", "image_registry", "base_image")


def repository_settings(start: Path) -> dict[str, Any]:
    """``[tool.helperhub]`` of the repository holding ``start``: the nearest ``pyproject.toml`` with
    that table, from ``start`` up to its git checkout's root, or, outside a checkout (an unpacked
    source tree, a plain folder), up to the file system's root. None found: ``{}``."""
    here = start.resolve()
    try:
        top: Path | None = repo_root(here).resolve()
    except GitError:
        top = None
    for folder in (here, *here.parents):
        settings = _table(folder)
        if settings is not None:
            return settings
        if folder == top:
            break
    return {}


def load_settings(root: Path) -> dict[str, Any]:
    """``[tool.helperhub]`` of ``root/pyproject.toml`` as ``{"index_url": ..., "profiles": {name:
    {key: value}}, "targets": (TargetSpec, ...)}``, only the keys it sets; no file or no table: ``{}``."""
    return _table(root) or {}


def _table(root: Path) -> dict[str, Any] | None:
    """The validated table of ``root/pyproject.toml``; None without the file or the table."""
    path = root / PYPROJECT
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"cannot read {path} ({reason}); make it a readable UTF-8 file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message names the line: "... (at line 3, column 7)"
        raise ConfigError(f"{path} is not valid TOML: {exc}; fix that line") from None
    tool = data.get("tool", {})
    table = tool.get("helperhub") if isinstance(tool, dict) else None
    if table is None:
        return None
    return parse_settings(table, str(path))


def parse_settings(table: object, source: str) -> dict[str, Any]:
    """Validate a ``[tool.helperhub]`` table (``source`` names its file in errors)."""
    if not isinstance(table, dict):
        raise ConfigError(f"{TABLE} in {source} is not a table; write it as a [tool.helperhub] section")
    known = sorted([*KEYS, PROFILES, TARGETS, TRUSTED_KEYS, ENVIRONMENTS])
    settings: dict[str, Any] = {}
    for key, value in table.items():
        if key == PROFILES:
            settings[PROFILES] = _profiles(value, source)
        elif key == TARGETS:
            settings[TARGETS] = parse_targets(value, source)
        elif key == TRUSTED_KEYS:
            settings[TRUSTED_KEYS] = _trusted_keys(value, source)
        elif key == ENVIRONMENTS:
            settings[ENVIRONMENTS] = parse_environments(value, source)
        elif key in KEYS:
            settings[KEYS[key]] = _text(value, f"{TABLE} {key}", source)
        else:
            raise ConfigError(f"unknown key {key!r} in {TABLE} of {source}; known keys: {', '.join(known)}")
    return settings


def _profiles(value: object, source: str) -> dict[str, dict[str, str]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{TABLE} profiles in {source} is not a table; write [tool.helperhub.profiles.<name>]")
    profiles: dict[str, dict[str, str]] = {}
    for name, keys in value.items():
        where = f"[tool.helperhub.profiles.{name}]"
        if not isinstance(keys, dict):
            raise ConfigError(f"{where} in {source} is not a table; give it keys {', '.join(PROFILE_KEYS)}")
        unknown = sorted(set(keys) - set(PROFILE_KEYS))
        if unknown:
            raise ConfigError(
                f"unknown key {unknown[0]!r} in {where} of {source}; known keys: {', '.join(PROFILE_KEYS)}"
            )
        profiles[name] = {k: _text(v, f"{where} {k}", source) for k, v in keys.items()}
    return profiles


def _trusted_keys(value: object, source: str) -> dict[str, str]:
    """``[tool.helperhub.trusted-keys]``: glob -> key text (parsed where it is used: core.signing)."""
    if not isinstance(value, dict):
        raise ConfigError(f"{TABLE} trusted-keys in {source} is not a table; write [tool.helperhub.trusted-keys] "
                          'with lines like "*-helpers" = "<public key>"')
    return {str(glob): _text(key, f"[tool.helperhub.trusted-keys] {glob!r}", source) for glob, key in value.items()}


def _text(value: object, what: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{what} in {source} must be a non-empty string, not {value!r}")
    return value
