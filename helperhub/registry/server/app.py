"""The private index: pypiserver's read routes through its Python API, the project's own storage
and write path around them, served by cheroot.

cheroot hands a request to the app as soon as its headers are read and lets the app read the
body from the socket, so the write path can refuse an upload from its headers alone (login,
size) and stream an accepted one straight into the package folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from helperhub.core import defaults
from helperhub.core.errors import ConfigError

if TYPE_CHECKING:
    from helperhub.registry.server.retention import Policy
    from helperhub.registry.server.webhooks import WebhookSettings

WsgiApp = Callable[..., Any]
STOP_GRACE = 3.0  # seconds a stopping server gives requests in flight


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
    max_concurrent_uploads: int = defaults.MAX_CONCURRENT_UPLOADS
    owners: Path | None = None  # TOML: project globs -> users; None: first uploaders own projects
    public_url: str | None = None  # the index as its users reach it; None: the address it listens on
    webhooks: WebhookSettings | None = None  # the --webhooks file, its secrets resolved; None: no hooks
    retention: Policy | None = None  # the --retention policy; None: gc needs one given for the run
    admins: tuple[str, ...] = ()  # users who run gc and change any registered lock, beside [admins]

    @property
    def authenticate(self) -> list[str]:
        return ["update", "download", "list"] if self.auth_reads else ["update"]

    @property
    def index_url(self) -> str:
        """The base URL the catalog's install snippets name."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


def build_app(settings: ServerSettings) -> tuple[WsgiApp, Callable[[], None]]:
    """The WSGI app, and what to start once the port is bound: the store's catch-up and the
    feeds' first read of the journal (so neither slows the start down)."""
    import pypiserver
    from pypiserver.backend import BackendProxy
    from pypiserver.config import Config

    from helperhub.registry.server.attestation_reads import AttestationReads
    from helperhub.registry.server.auth import Htpasswd
    from helperhub.registry.server.catalog.cache import CATALOG_DIR
    from helperhub.registry.server.catalog.feeds import FeedCache
    from helperhub.registry.server.catalog.reads import CatalogReads
    from helperhub.registry.server.catchup import start_catch_up
    from helperhub.registry.server.delivery import start_deliveries
    from helperhub.registry.server.fastreads import FastReads
    from helperhub.registry.server.gc import Retention
    from helperhub.registry.server.retention_reads import RetentionReads
    from helperhub.registry.server.store import HardenedBackend
    from helperhub.registry.server.tombstones import finish
    from helperhub.registry.server.upload import Uploads

    if settings.htpasswd is not None and not settings.htpasswd.is_file():
        raise ConfigError(
            f"htpasswd file {settings.htpasswd} does not exist; create it with "
            "`helperhub registry add-user NAME --htpasswd FILE`"
        )
    public = urlsplit(settings.index_url)
    if public.scheme not in ("http", "https") or not public.hostname or "@" in public.netloc:
        raise ConfigError("--public-url must be an http:// or https:// base URL with a host and no login, "
                          "like http://pypi.example.org:8080")
    settings.packages.mkdir(parents=True, exist_ok=True)
    finish(settings.packages)  # deletes a stop cut short, before the folder is listed
    config = Config.default_with_overrides(
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
    backend = HardenedBackend(config, settings.packages, settings.max_upload_bytes, settings.owners,
                              settings.index_url, background=True)
    config.backend = BackendProxy(backend)
    backend.owners.admins = frozenset(settings.admins)
    retention = Retention(backend, settings.retention)
    # the journal's readers: the feeds (re-rendered on each event) and a delivery thread per webhook
    feeds = FeedCache(backend.root / CATALOG_DIR, settings.index_url, backend.events.journal,
                      is_helper=backend.is_helper)
    backend.events.listeners.append(feeds.added)
    backend.records.listeners.append(feeds.refresh)
    if settings.webhooks is not None:
        start_deliveries(settings.webhooks, backend.events.journal, backend.events.journal.path.parent)
    app: WsgiApp = pypiserver.setup_routes_from_config(pypiserver.app_from_config(config), config)
    htpasswd = Htpasswd(settings.htpasswd) if settings.htpasswd else None
    # pages (both formats), files and metadata files; with --auth-reads behind the same login
    app = FastReads(app, backend, htpasswd, settings.auth_reads)
    # the catalog: / (and /?q=) and /helpers/<name>/, for people, and their Atom feeds
    app = CatalogReads(app, backend.catalog, htpasswd, settings.auth_reads, feeds)
    # a release's signed provenance and SBOMs, beside its files and on its catalog page
    app = AttestationReads(app, settings.packages, htpasswd, settings.auth_reads)
    # deleted files, their metadata files and provenance answer 410 with their reason (before the
    # documents' 404); the registered locks
    app = RetentionReads(app, retention, htpasswd, settings.auth_reads)
    app = Uploads(app, backend, htpasswd, settings.max_upload_bytes, settings.max_concurrent_uploads, retention)

    def start() -> None:
        # reads are served meanwhile, writes once it is done; then the feeds read the journal with
        # every project's standing known (until then they are served from disk)
        start_catch_up(backend.catch_up, then=feeds.load)

    return app, start


def make_server(settings: ServerSettings, app: WsgiApp) -> Any:
    """A cheroot server whose answers with ``Connection: close`` really close: cheroot would
    otherwise read the rest of a refused upload's body to keep the connection alive."""
    from cheroot import wsgi

    class Gateway(wsgi.Gateway_10):
        def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if any(k.lower() == "connection" and v.lower() == "close" for k, v in headers):
                self.req.close_connection = True
            return super().start_response(status, headers, exc_info)

    server = wsgi.Server((settings.host, settings.port), app, numthreads=settings.threads,
                         server_name="helperhub", timeout=30, shutdown_timeout=5,
                         request_queue_size=defaults.SERVER_BACKLOG)
    server.gateway = Gateway
    server.max_request_body_size = 0  # the write path enforces the limit, from the headers
    return server


def serve(settings: ServerSettings, on_ready: Callable[[str], None] | None = None) -> None:
    """Serve in the foreground until SIGTERM or SIGINT.

    A signal stops the server from another thread (raising inside cheroot's loop can leave it
    waiting on its own state); whatever is still running after a few seconds is cut short,
    which the store is built for: an unfinished upload is only a hidden temp file."""
    import os
    import signal
    import threading

    app, start_background = build_app(settings)
    server = make_server(settings, app)

    def stop_soon(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.stop, daemon=True).start()
        deadline = threading.Timer(STOP_GRACE, os._exit, args=(0,))
        deadline.daemon = True
        deadline.start()

    server.prepare()
    start_background()
    signal.signal(signal.SIGTERM, stop_soon)
    signal.signal(signal.SIGINT, stop_soon)
    if on_ready is not None:
        host, port = server.bind_addr[:2]
        on_ready(f"http://{host}:{port}")
    try:
        server.serve()
    finally:
        server.stop()
