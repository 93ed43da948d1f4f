"""Headless Chromium for tests and screenshots: Debian's chromium driven by Debian's chromedriver
through Selenium. The driver's path is given explicitly, so Selenium Manager never runs (it would
try to download a driver); the flags keep Chromium off the network but for the pages it is sent
to, and every browser gets a fresh profile folder. `make test-tools` installs both."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--lang=en-US",
)
PHONE = (390, 844)  # CSS pixels of a common phone
DESKTOP = (1280, 900)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class BrowserMissing(RuntimeError):
    """Chromium or chromedriver is not installed."""


def require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]
    if missing:
        raise BrowserMissing(f"{' and '.join(missing)} not found; run `make test-tools` (Debian's chromium "
                             "and chromium-driver)")


def chrome_options(profile: Path, *, javascript: bool = True, size: tuple[int, int] = DESKTOP) -> Options:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    return options


@contextmanager
def chrome(profile: Path, *, javascript: bool = True, size: tuple[int, int] = DESKTOP) -> Iterator[WebDriver]:
    """A headless Chromium with a new profile under ``profile`` (its chromedriver log lands there too)."""
    require_browser()
    profile.mkdir(parents=True, exist_ok=True)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(profile / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=chrome_options(profile, javascript=javascript, size=size))
    try:
        yield driver
    finally:
        driver.quit()


def prefer_dark(driver: WebDriver, dark: bool = True) -> None:
    """Emulate the reader's ``prefers-color-scheme`` for the current tab."""
    value = "dark" if dark else "light"
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia",
                           {"features": [{"name": "prefers-color-scheme", "value": value}]})


def viewport(driver: WebDriver, width: int, height: int) -> None:
    """Set the layout viewport itself (the window size of headless Chromium includes no chrome,
    but a device metric override is exact and also sets the device scale)."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def full_page_png(driver: WebDriver, path: Path) -> tuple[int, int]:
    """Write a PNG of the whole page (not only the viewport) and return its pixel size."""
    metrics: dict[str, Any] = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
    content = metrics["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": content["width"], "height": content["height"], "scale": 1}
    shot = driver.execute_cdp_cmd("Page.captureScreenshot",
                                  {"format": "png", "captureBeyondViewport": True, "clip": clip})
    data = base64.b64decode(shot["data"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)  # a reader never sees half a PNG
    return png_size(data)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; ValueError if the bytes are no PNG."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)
