"""`make docs-screenshots`: the catalog page of a real registry, into which a realistic set of helpers
was released (tests/catalog_site.py), photographed by the browser the browser tests use, into
docs/catalog.png.

    python -m tests.screenshots [--out docs/catalog.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.browser import BrowserMissing, chrome, full_page_png, require_browser
from tests.catalog_site import catalog_registry, sample_entries, sample_third_party


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/catalog.png"), help="the PNG to write")
    args = parser.parse_args(argv)
    try:
        require_browser()
    except BrowserMissing as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 1
    with (tempfile.TemporaryDirectory(prefix="catalog-shot-") as tmp,
          catalog_registry(Path(tmp) / "registry", sample_entries(), sample_third_party()) as registry,
          chrome(Path(tmp) / "profile") as driver):
        driver.get(registry.url + "/")
        width, height = full_page_png(driver, args.out)
    print(f"{args.out}: {width}x{height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
