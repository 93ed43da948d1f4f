"""`make docs-screenshots`: the catalog page of a realistic index, photographed by the browser the
browser tests use, into docs/catalog.png.

    python -m tests.screenshots [--out docs/catalog.png]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.browser import BrowserMissing, chrome, full_page_png
from tests.catalog_site import INDEX_URL, sample_entries, sample_third_party, serve_site, write_site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/catalog.png"), help="the PNG to write")
    args = parser.parse_args(argv)
    entries, mirror = sample_entries(), sample_third_party()
    with tempfile.TemporaryDirectory(prefix="catalog-shot-") as tmp:
        site = Path(tmp) / "site"
        write_site(site, entries, mirror, INDEX_URL)
        try:
            with serve_site(site, entries, mirror) as url, chrome(Path(tmp) / "profile") as driver:
                driver.get(url)
                width, height = full_page_png(driver, args.out)
        except BrowserMissing as exc:
            print(f"screenshots: {exc}", file=sys.stderr)
            return 1
    print(f"{args.out}: {width}x{height}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
