"""The embedded registry: pypiserver as a background process of the project's own venv.

Its state (packages, htpasswd, generated upload credentials, pid, log) lives in a git-ignored
folder, so `make release` works on a fresh clone with no set-up.
"""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

from helperhub.core import defaults
from helperhub.core.errors import RegistryError
from helperhub.core.fs import atomic_write_text
from helperhub.registry.client import IndexSettings, health
from helperhub.stack.background import running_pid, start_background, stop_background

UPLOADER = "release"


@dataclass(frozen=True)
class EmbeddedRegistry:
    state: Path  # e.g. <repo>/.hub
    host: str = defaults.REGISTRY_HOST
    port: int = defaults.REGISTRY_PORT

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def packages(self) -> Path:
        return self.state / "packages"

    @property
    def htpasswd(self) -> Path:
        return self.state / "htpasswd"

    @property
    def credentials(self) -> Path:
        return self.state / "credentials.json"

    @property
    def pidfile(self) -> Path:
        return self.state / "registry.pid"

    @property
    def logfile(self) -> Path:
        return self.state / "registry.log"


def add_user(htpasswd: Path, user: str, password: str) -> None:
    """Add or change a user, hashed with bcrypt: passlib's "portable" scheme may fall back to
    MD5-crypt, which a stolen file gives up in hours. Written atomically, readable by the owner only."""
    from passlib.apache import HtpasswdFile

    ht = HtpasswdFile(str(htpasswd), new=not htpasswd.exists(), default_scheme="bcrypt")
    ht.set_password(user, password)
    atomic_write_text(htpasswd, ht.to_string().decode(), mode=0o600)


def ensure_credentials(reg: EmbeddedRegistry) -> tuple[str, str]:
    """Upload credentials of the embedded registry, generated once and kept 0600."""
    if reg.credentials.is_file() and reg.htpasswd.is_file():
        data = json.loads(reg.credentials.read_text())
        return data["username"], data["password"]
    reg.state.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    add_user(reg.htpasswd, UPLOADER, password)
    atomic_write_text(reg.credentials, json.dumps({"username": UPLOADER, "password": password}), mode=0o600)
    return UPLOADER, password


def settings_for(reg: EmbeddedRegistry) -> IndexSettings:
    user, password = ensure_credentials(reg)
    return IndexSettings(reg.url, user, password)


def start(reg: EmbeddedRegistry, timeout: float = 20.0) -> IndexSettings:
    """Start the embedded registry unless it already answers; return how to reach it."""
    settings = settings_for(reg)
    if health(settings):
        if running_pid(reg.pidfile) is None:
            raise RegistryError(
                f"a registry this checkout did not start answers on {reg.url}; its uploads need other "
                "credentials: stop it, set HUB_REGISTRY_PORT, or point HUB_INDEX_URL at it"
            )
        return settings
    reg.packages.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable, "-m", "helperhub", "registry", "serve",
        "--host", reg.host, "--port", str(reg.port),
        "--packages", str(reg.packages), "--htpasswd", str(reg.htpasswd),
        "--admin", settings.username or UPLOADER,  # its generated login runs retention
    ]
    if start_background(cmd, reg.logfile, reg.pidfile, lambda: health(settings), timeout):
        return settings
    stop(reg)
    tail = reg.logfile.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
    raise RegistryError(
        f"the embedded registry did not start on {reg.url} ({tail[0]}); "
        "free the port or set HUB_REGISTRY_PORT"
    )


def stop(reg: EmbeddedRegistry) -> bool:
    """Stop the embedded registry if this checkout started it; True if one was stopped."""
    return stop_background(reg.pidfile)
