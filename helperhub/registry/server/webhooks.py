"""Who hears of the registry's events: the webhooks file (``--webhooks``, TOML), read once at start.

::

    timeout = 10        # seconds a delivery may take (optional)
    retry-min = 1       # the first wait after a failed delivery, doubled each time ...
    retry-max = 60      # ... up to this (optional)

    [[hook]]
    url = "https://ci.example/hooks/helperhub"
    secret-file = "ci.secret"          # beside this file, or an absolute path; or:
    # secret-env = "HUB_WEBHOOK_CI"    # an environment variable of the registry
    events = ["release", "yank"]       # default: all of release, yank, unyank, image, delete
    projects = ["tabular-*"]           # globs of canonical names; default: every project

Each event is POSTed as JSON, signed with the hook's secret (delivery.py). The secrets are
resolved here, with the environment the command hands over, so nothing deeper reads it."""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from helperhub.core import defaults
from helperhub.core.errors import ConfigError
from helperhub.registry.server.events import KINDS, Event

TOP_KEYS = {"hook", "timeout", "retry-min", "retry-max"}
HOOK_KEYS = {"url", "secret-file", "secret-env", "events", "projects", "name"}


@dataclass(frozen=True)
class Hook:
    url: str
    secret: bytes = field(repr=False)
    events: frozenset[str] = frozenset(KINDS)
    projects: tuple[str, ...] = ("*",)  # canonical globs
    name: str = ""  # what logs call it: its name, else the receiver's host (a URL may carry a token)

    @property
    def key(self) -> str:
        """Names the hook's delivery cursor: the same URL resumes where it was."""
        return hashlib.sha256(self.url.encode()).hexdigest()[:16]

    def wants(self, event: Event) -> bool:
        return event.event in self.events and any(fnmatchcase(event.project, g) for g in self.projects)


@dataclass(frozen=True)
class WebhookSettings:
    hooks: tuple[Hook, ...] = ()
    timeout: float = defaults.WEBHOOK_TIMEOUT  # seconds of one delivery request
    retry_min: float = defaults.WEBHOOK_RETRY_MIN  # seconds: the first wait after a failure
    retry_max: float = defaults.WEBHOOK_RETRY_MAX  # the longest wait between tries


def load_webhooks(path: Path, environ: Mapping[str, str]) -> WebhookSettings:
    """The webhooks file with its secrets resolved; ConfigError naming what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"webhooks file {path} cannot be read ({exc.__class__.__name__}); "
                          "create it or leave --webhooks out") from None
    return parse_webhooks(text, str(path), path.parent, environ)


def parse_webhooks(text: str, source: str, base: Path, environ: Mapping[str, str]) -> WebhookSettings:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML ({exc}); fix it or leave --webhooks out") from None
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r}; a webhooks file has [[hook]] tables and "
                          "optionally timeout, retry-min and retry-max")
    timing = {key: _seconds(data, key, default, source) for key, default in (
        ("timeout", defaults.WEBHOOK_TIMEOUT), ("retry-min", defaults.WEBHOOK_RETRY_MIN),
        ("retry-max", defaults.WEBHOOK_RETRY_MAX))}
    if timing["retry-min"] > timing["retry-max"]:
        raise ConfigError(f"{source}: retry-min ({timing['retry-min']}) is above retry-max ({timing['retry-max']})")
    tables = data.get("hook", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{source}: hooks are [[hook]] tables (with url and secret-file or secret-env)")
    hooks = tuple(_hook(t, f"{source}: hook {i + 1}", base, environ) for i, t in enumerate(tables))
    urls = [h.url for h in hooks]
    twice = next((u for u in urls if urls.count(u) > 1), None)
    if twice is not None:
        raise ConfigError(f"{source}: two hooks post to {_shown(twice)}; merge them into one")
    return WebhookSettings(hooks, timing["timeout"], timing["retry-min"], timing["retry-max"])


def _seconds(data: Mapping[str, Any], key: str, default: float, source: str) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
        raise ConfigError(f"{source}: {key} must be a number of seconds above 0 and up to 3600 (got {value!r})")
    return float(value)


def _hook(table: Mapping[str, Any], where: str, base: Path, environ: Mapping[str, str]) -> Hook:
    unknown = sorted(set(table) - HOOK_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; a hook has url, secret-file or secret-env, "
                          "and optionally events, projects and name")
    url = table.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise ConfigError(f"{where}: url must be an http:// or https:// URL with a host and no login "
                          "(like https://ci.example/hooks/helperhub)")
    assert isinstance(url, str)
    events = table.get("events", list(KINDS))
    if not isinstance(events, list) or not events or not all(e in KINDS for e in events):
        raise ConfigError(f"{where}: events must be a non-empty list of {', '.join(KINDS)}")
    projects = table.get("projects", ["*"])
    if not isinstance(projects, list) or not projects or not all(isinstance(p, str) and p.strip() for p in projects):
        raise ConfigError(f"{where}: projects must be a non-empty list of project-name globs, like [\"tabular-*\"]")
    name = table.get("name", parts.hostname)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: name must be a non-empty string")
    return Hook(url, _secret(table, where, base, environ), frozenset(events),
                tuple(canonicalize_name(p.strip()) for p in projects), name.strip())


def _secret(table: Mapping[str, Any], where: str, base: Path, environ: Mapping[str, str]) -> bytes:
    given = [k for k in ("secret-file", "secret-env") if k in table]
    if len(given) != 1:
        raise ConfigError(f"{where}: give its secret as exactly one of secret-file (a file holding it) "
                          "or secret-env (an environment variable holding it)")
    ref = table[given[0]]
    if not isinstance(ref, str) or not ref.strip():
        raise ConfigError(f"{where}: {given[0]} must name a file or a variable")
    if given[0] == "secret-env":
        secret = environ.get(ref, "").strip()
        if not secret:
            raise ConfigError(f"{where}: the environment variable {ref} is not set or empty; set it to the secret")
    else:
        path = base / ref
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: secret file {path} cannot be read ({exc.__class__.__name__}); "
                              "create it, readable by the registry's user") from None
        if not secret:
            raise ConfigError(f"{where}: secret file {path} is empty; put the secret in it")
    return secret.encode("utf-8")


def _shown(url: str) -> str:
    """A URL as logs and messages show it: scheme, host and port (its path may be a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/..."
