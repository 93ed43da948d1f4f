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

from helperhub.core import defaults
from helperhub.core.errors import ConfigError

WsgiApp = Callable[..., Any]


@dataclass(frozen=True)
class ServerSettings:
    host: str = defaults.REGISTRY_HOST
    port: int = defaults.REGISTRY_PORT
    packages: Path = Path(defaults.STATE_DIR, "packages")
    htpasswd: Path | None = None
    auth_reads: bool = False  # reads are anonymous unless this is set
    fallback_url: str | None = None  # None: never redirect to another index
    threads: int = defaults.SERVER_THREADS
    max_upload_bytes: int = defaults.MAX_UPLOAD_MB << 20
    hardened: bool = True  # False: stock pypiserver storage (for side-by-side comparisons)

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
    options: dict[str, Any] = dict(
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
    if not settings.hardened:
        stock: WsgiApp = pypiserver.app(**options)
        return stock
    from pypiserver.config import Config

    from helperhub.registry.store import HardenedBackend

    config = Config.default_with_overrides(**options)
    backend = HardenedBackend(config, settings.packages, settings.max_upload_bytes)
    config.backend = RefusingProxy(backend)
    app: WsgiApp = pypiserver.setup_routes_from_config(pypiserver.app_from_config(config), config)
    if not settings.auth_reads:  # with authenticated reads every request goes through pypiserver's auth
        from helperhub.registry.fastreads import FastReads

        app = FastReads(app, backend)
    return UploadLimit(app, settings.max_upload_bytes)


class UploadLimit:
    """Refuse an oversized upload from its Content-Length, before reading a byte of it."""

    def __init__(self, app: WsgiApp, max_bytes: int, slack: int = 1 << 20) -> None:
        self.app, self.limit = app, max_bytes + slack  # slack: the multipart form around the file

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        length = environ.get("CONTENT_LENGTH") or "0"
        if environ.get("REQUEST_METHOD") == "POST" and length.isdigit() and int(length) > self.limit:
            body = f"upload of {length} bytes is larger than the limit of {self.limit} bytes\n".encode()
            headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            start_response("413 Payload Too Large", headers)
            return [body]
        return self.app(environ, start_response)


def RefusingProxy(backend: Any) -> Any:
    """pypiserver's backend proxy, with refused uploads turned into HTTP answers (400/409/413)."""
    from pypiserver.backend import BackendProxy
    from pypiserver.bottle_wrapper import HTTPError

    from helperhub.registry.store import UploadConflict, UploadTooLarge
    from helperhub.registry.validate import UploadRefused

    class _Proxy(BackendProxy):  # type: ignore[misc]
        def add_package(self, filename: str, fh: Any) -> None:
            try:
                super().add_package(filename, fh)
            except UploadConflict as exc:
                raise HTTPError(409, str(exc)) from None
            except UploadTooLarge as exc:
                raise HTTPError(413, str(exc)) from None
            except UploadRefused as exc:
                raise HTTPError(400, str(exc)) from None

    return _Proxy(backend)


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
