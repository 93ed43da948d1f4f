"""A realistic catalog and a loopback site serving its pages as the registry will: the pages
pre-rendered into a folder (what the nginx front serves from disk), ``/?q=`` rendered per request
(what the registry answers). Used by the browser tests and `make docs-screenshots`."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from helperhub.core.fs import atomic_write_text
from helperhub.registry.catalog_model import HelperEntry, HelperVersion, ReleaseFile, ThirdParty
from helperhub.registry.catalog_pages import render_catalog, render_helper

INDEX_URL = "http://pypi.helpers.svc.cluster.local:8080"
SHA = "3f1c9a0be47d2c65a8f0e1d7b29c4e5a6d8f0b1c2e3a4d5f6a7b8c9d0e1f2a3b"
DIGEST = "sha256:9b2d41c0f7e8a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1"

TABULAR_README = """\
# tabular-helpers

Column imputation, data-quality checks and plots for tabular steps.

```python
from tabular_helpers import impute, quality_report

frame = impute(frame, strategy="median")
report = quality_report(frame, max_missing=0.05)
assert report.passed, report.failures
```

| extra | adds |
|---|---|
| `plots` | missingness and distribution plots |
| `model` | model creation and metrics |
"""


def _when(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 10, day, hour, 30, tzinfo=UTC)


def _files(name: str, version: str, size: int) -> tuple[ReleaseFile, ...]:
    module = name.replace("-", "_")
    return (ReleaseFile(f"{module}-{version}-py3-none-any.whl", SHA, size),
            ReleaseFile(f"{module}-{version}.tar.gz", SHA, size + 4000))


def _version(name: str, version: str, day: int, requires: Sequence[str] = (), *,
             yanked: str | None = None, image: bool = True) -> HelperVersion:
    return HelperVersion(
        version, _when(day), yanked, tuple(requires), ">=3.11",
        f"registry.internal:5000/{name}@{DIGEST}" if image else None, _files(name, version, 24_310 + day),
    )


TABULAR_REQUIRES = ("numpy>=1.26", "pandas>=2.1", 'matplotlib>=3.8; extra == "plots"',
                    'scikit-learn>=1.4; extra == "model"')


def sample_entries() -> list[HelperEntry]:
    """Four helpers of three teams: one with its newest version yanked, one never imaged."""
    return [
        HelperEntry(
            "tabular-helpers", "tabular-helpers",
            (_version("tabular-helpers", "1.2.0", 28, TABULAR_REQUIRES),
             _version("tabular-helpers", "1.1.0", 14, TABULAR_REQUIRES),
             _version("tabular-helpers", "1.0.0", 2, TABULAR_REQUIRES[:2])),
            ("ml-platform",), "Column imputation, data-quality checks and plots for tabular data",
            TABULAR_README, "text/markdown; charset=UTF-8; variant=GFM",
        ),
        HelperEntry(
            "vision-helpers", "vision-helpers",
            (_version("vision-helpers", "1.0.1", 29, ("numpy>=1.26", "tabular-helpers>=1.1")),
             _version("vision-helpers", "1.0.0", 20, ("numpy>=1.26", "tabular-helpers>=1.1"))),
            ("vision-team", "ml-platform"), "Histogram equalisation, CLAHE-style tiles, gamma and image statistics",
            "vision-helpers\n==============\n\nContrast enhancement for image steps.\n\n"
            "* ``equalize(image)``\n* ``clahe(image, tiles=8)``\n",
            "text/x-rst",
        ),
        HelperEntry(
            "drift-monitor", "Drift_Monitor",
            (_version("drift-monitor", "0.3.0", 30, ("numpy>=1.26", "scipy>=1.11"),
                      yanked="computes PSI on the wrong bins; use 0.2.1"),
             _version("drift-monitor", "0.2.1", 9, ("numpy>=1.26", "scipy>=1.11"))),
            ("risk-analytics",), "Population stability and KS drift checks for feature monitoring",
            "Drift checks between a reference and a current frame.", "text/plain",
        ),
        HelperEntry(
            "feature-store-client", "feature-store-client",
            (_version("feature-store-client", "2.0.0rc1", 27, ("requests>=2.31",), image=False),),
            ("data-eng",), "Read offline features by entity and timestamp",
            "", "",
        ),
    ]


def sample_third_party() -> list[ThirdParty]:
    return [
        ThirdParty("numpy", ("2.1.3", "1.26.4")), ThirdParty("pandas", ("2.2.3",)),
        ThirdParty("scikit-learn", ("1.5.2",)), ThirdParty("matplotlib", ("3.9.2",)),
        ThirdParty("kfp", ("2.17.3",)), ThirdParty("uv", ("0.13.8",)),
    ]


def write_site(root: Path, entries: Sequence[HelperEntry], third_party: Sequence[ThirdParty],
               index_url: str = INDEX_URL) -> None:
    """The pages as files, laid out as the URLs: ``index.html`` and ``helpers/<name>/index.html``."""
    atomic_write_text(root / "index.html", render_catalog(entries, third_party))
    for entry in entries:
        atomic_write_text(root / "helpers" / entry.name / "index.html", render_helper(entry, index_url))


class _Handler(SimpleHTTPRequestHandler):
    entries: Sequence[HelperEntry] = ()
    third_party: Sequence[ThirdParty] = ()

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query).get("q", [""])[0]
        if parts.path != "/" or not query:
            super().do_GET()
            return
        body = render_catalog(self.entries, self.third_party, query).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_site(root: Path, entries: Sequence[HelperEntry], third_party: Sequence[ThirdParty]) -> Iterator[str]:
    """Serve ``root`` (written by write_site) on a free loopback port; yields the base URL."""
    handler = type("Handler", (_Handler,), {"entries": tuple(entries), "third_party": tuple(third_party)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
