"""An nginx front for the registry: pages (HTML or JSON, negotiated as the registry does), the
catalog pages (``/`` and ``/helpers/<name>/``) and their Atom feeds (``/feed.atom``,
``/helpers/<name>/feed.atom``), files, metadata files and the documents a release attaches straight
from disk (the registry writes the pages on every change), everything else (uploads, ``/?q=``
filters, unknown or non-normalised names) proxied to the registry. Rendering is a pure function;
running nginx is kept apart."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from helperhub.core.errors import ConfigError
from helperhub.registry.server.attestations import ATTESTATIONS_DIR, FILES_DIR, HELPERS_DIR
from helperhub.registry.server.catalog.atom import ATOM_TYPE, FEED_NAME
from helperhub.registry.server.catalog.cache import CATALOG_DIR
from helperhub.registry.server.metadata import METADATA_DIR
from helperhub.registry.server.simple.negotiate import JSON_TYPE
from helperhub.registry.server.simple.pages import PAGES_DIR

FILE_CACHE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class FrontSettings:
    listen: str  # host:port
    packages: Path  # the registry's package folder (pages are in its .simple/)
    state: Path  # pid, logs, temp folders
    app: str | None = None  # host:port of the registry; None: static only
    max_body: str = "8g"
    auth_reads: bool = False  # the registry's --auth-reads: the front would serve reads without it


def render_nginx_conf(s: FrontSettings) -> str:
    """The front's nginx.conf; refused for a registry that requires a login to read, since the
    front serves pages and files straight from disk."""
    if s.auth_reads:
        raise ConfigError(
            "the nginx front serves pages and files without a login, so it cannot front a registry "
            "run with --auth-reads; serve that registry directly"
        )
    return _render(s)


# Which pages a request gets, as negotiate.py picks them for the registry itself: JSON when the
# Accept header names the PEP 691 JSON type without q=0 (pip and uv list it first, at q=1), or
# when ?format= names it; HTML otherwise.
NEGOTIATION = r"""  map $http_accept $hub_accept_json {
    default 0;
    "~*application/vnd\.pypi\.simple\.(v1|latest)\+json(?!\s*;\s*q\s*=\s*0(\.0*)?\s*(,|;|$))" 1;
  }
  map $arg_format $hub_simple_json {
    default $hub_accept_json;
    "~*^application/vnd\.pypi\.simple\.(v1|latest)(\+|%2B)json$" 1;
    "~*^(text/html|application/vnd\.pypi\.simple\.(v1|latest)(\+|%2B)html)$" 0;
  }
  # The catalog page on disk answers a read of / without a query; a POST to / is an upload and
  # /?q=... a filter, both for the registry.
  map "$request_method:$args" $hub_catalog_static {
    default 0;
    "GET:" 1;
    "HEAD:" 1;
  }"""


def _render(s: FrontSettings) -> str:
    pages = (s.packages / PAGES_DIR).resolve()
    catalog = (s.packages / CATALOG_DIR).resolve()
    packages = s.packages.resolve()
    metadata = (s.packages / METADATA_DIR).resolve()
    attested = (s.packages / ATTESTATIONS_DIR).resolve()
    fallback = "@app" if s.app else "=404"  # what try_files does when the file is not there
    json_fallback = "@app_json" if s.app else "=404"
    catalog_fallback = "@app_catalog" if s.app else "=404"
    temps = "\n".join(f"  {k}_temp_path {s.state / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    upstream = f"""
  upstream hub_registry {{ server {s.app}; }}""" if s.app else ""
    app_locations = f"""
    location / {{
      proxy_pass http://{s.app};
      proxy_http_version 1.1;  # with the next line: a chunked body streams through, never spooled
      proxy_request_buffering off;
      proxy_set_header Host $http_host;
      client_max_body_size {s.max_body};
    }}
    location @app {{ proxy_pass http://{s.app}; proxy_set_header Host $http_host; }}
    location @app_json {{ proxy_pass http://hub_registry$request_uri; proxy_set_header Host $http_host; }}
    location @app_catalog {{ proxy_pass http://hub_registry$request_uri; proxy_set_header Host $http_host; }}""" \
        if s.app else ""
    page_headers = "add_header Cache-Control no-cache;\n      add_header Vary Accept;"
    catalog_page = "default_type text/html;\n      charset utf-8;\n      add_header Cache-Control no-cache;"
    json_type = f"types {{ }}\n      default_type {JSON_TYPE};\n      {page_headers}"
    feed_type = f"types {{ }}\n      default_type {ATOM_TYPE};\n      add_header Cache-Control no-cache;"
    feed = FEED_NAME.replace(".", r"\.")
    return rf"""daemon off;
worker_processes auto;
pid {s.state / "nginx.pid"};
error_log {s.state / "error.log"} warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  etag on;
{temps}
{NEGOTIATION}{upstream}
  server {{
    listen {s.listen} backlog=4096;
    # the JSON pages (PEP 691) of the same URLs, for the clients that ask for them
    if ($hub_simple_json) {{
      rewrite ^/simple/(([a-z0-9][a-z0-9-]*/)?)$ /.json/$1 last;
    }}
    if ($hub_catalog_static) {{
      rewrite ^/$ /.catalog/ last;
    }}
    location = /.catalog/ {{
      internal;
      root {catalog};
      {catalog_page}
      try_files /index.html {catalog_fallback};
    }}
    location ~ ^/helpers/([a-z0-9][a-z0-9-]*)/$ {{
      root {catalog};
      {catalog_page}
      try_files /helpers/$1/index.html {fallback};
    }}
    # the Atom feeds the registry writes beside the catalog pages
    location = /{FEED_NAME} {{
      root {catalog};
      {feed_type}
      try_files /{FEED_NAME} {catalog_fallback};
    }}
    location ~ ^/helpers/([a-z0-9][a-z0-9-]*)/{feed}$ {{
      root {catalog};
      {feed_type}
      try_files /helpers/$1/{FEED_NAME} {fallback};
    }}
    location = /simple/ {{
      root {pages};
      default_type text/html;
      charset utf-8;
      {page_headers}
      try_files /index.html =404;
    }}
    location ~ ^/simple/([a-z0-9][a-z0-9-]*)/$ {{
      root {pages};
      default_type text/html;
      charset utf-8;
      {page_headers}
      try_files /$1/index.html {fallback};
    }}
    location = /.json/ {{
      internal;
      root {pages};
      {json_type}
      try_files /index.json =404;
    }}
    location ~ ^/\.json/([a-z0-9][a-z0-9-]*)/$ {{
      internal;
      root {pages};
      {json_type}
      try_files /$1/index.json {json_fallback};
    }}
    # a release's signed provenance beside each file and its SBOM per target, as the registry stores them
    location ~ ^/packages/([^/.][^/]*\.provenance\.json)$ {{
      root {attested / FILES_DIR};
      default_type application/json;
      add_header Cache-Control no-cache;
      try_files /$1 {fallback};
    }}
    location ~ ^/helpers/([a-z0-9][a-z0-9-]*/[^/]+/[^/]+\.cdx\.json)$ {{
      root {attested / HELPERS_DIR};
      default_type application/json;
      add_header Cache-Control no-cache;
      try_files /$1 {fallback};
    }}
    location ~ ^/packages/([^/.][^/]*\.whl\.metadata)$ {{
      root {metadata};
      default_type "text/plain; charset=utf-8";
      add_header Cache-Control "{FILE_CACHE}";
      try_files /$1 {fallback};
    }}
    location ~ ^/packages/([^/.][^/]*)$ {{
      root {packages};
      default_type application/octet-stream;
      add_header Cache-Control "{FILE_CACHE}";
      # no open_file_cache: a descriptor kept open would serve a file retention deleted (and hold
      # its room) until it is checked again; a missing file is the registry's 410 with its reason
      try_files /$1 {fallback};
    }}{app_locations}
  }}
}}
"""


def start_front(s: FrontSettings, timeout: float = 10.0) -> subprocess.Popen[bytes]:
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx is None:
        raise ConfigError("nginx is not installed; install it (apt-get install nginx-light) to run the front")
    s.state.mkdir(parents=True, exist_ok=True)
    conf = s.state / "nginx.conf"
    conf.write_text(render_nginx_conf(s))
    proc = subprocess.Popen([nginx, "-c", str(conf), "-e", str(s.state / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://{s.listen}/simple/", timeout=1)
            return proc
        except requests.RequestException:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise ConfigError(f"nginx did not start on {s.listen}: {(s.state / 'error.log').read_text()[-500:]}")
