"""The private index: stock pypiserver built through its Python API and served by waitress.

Building the WSGI app here (instead of running the ``pypi-server`` script) is what lets the
project put its own layers around pypiserver without forking it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError

WsgiApp = Callable[..., Any]


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    packages: Path = Path(".hub/packages")
    htpasswd: Path | None = None
    auth_reads: bool = False  # reads are anonymous unless this is set
    fallback_url: str | None = None  # None: never redirect to another index
    threads: int = 8

    @property
    def authenticate(self) -> list[str]:
        return ["update", "download", "list"] if self.auth_reads else ["update"]


def build_app(settings: ServerSettings) -> WsgiApp:
    import pypiserver

    if settings.htpasswd is not None and not settings.htpasswd.is_file():
        raise ConfigError(
            f"htpasswd file {settings.htpasswd} does not exist; create it with "
            "`helperhub registry add-user NAME --htpasswd FILE`"
        )
    settings.packages.mkdir(parents=True, exist_ok=True)
    app: WsgiApp = pypiserver.app(
        roots=[settings.packages.resolve()],
        authenticate=settings.authenticate,
        # no password file: uploads are refused for everyone rather than open to everyone
        password_file=str(settings.htpasswd) if settings.htpasswd else None,
        disable_fallback=settings.fallback_url is None,
        fallback_url=settings.fallback_url or "https://pypi.org/simple/",
        overwrite=False,
        hash_algo="sha256",
        health_endpoint="/health",
        log_stream=None,
    )
    return app


def serve(settings: ServerSettings, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve in the foreground until interrupted."""
    import waitress

    app = build_app(settings)
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    server = waitress.create_server(
        app, host=settings.host, port=settings.port, threads=settings.threads, ident="helperhub"
    )
    if on_ready is not None:
        on_ready(f"http://{settings.host}:{server.effective_port}")
    server.run()
