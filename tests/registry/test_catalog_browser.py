"""The catalog pages in a real headless Chromium, as a person sees them: which helpers and versions
are shown, the filter with and without JavaScript, the yanked marker, an uploaded description that
tries to run a script, a phone-sized dark page, and a screenshot.

The pages come from a real `helperhub registry serve` into which the helpers were released as their
owners release them (wheel and sdist per version, an owners file, a yank with its reason, images
recorded after the upload) beside wheel-only mirrored projects; and, for one test, from the nginx
front serving the same registry's pages from disk."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from helperhub.registry.server.catalog.model import HelperEntry, HelperVersion
from helperhub.stack.front import FrontSettings, start_front
from tests.browser import (
    PHONE,
    PNG_SIGNATURE,
    BrowserMissing,
    chrome,
    full_page_png,
    png_size,
    prefer_dark,
    require_browser,
    viewport,
)
from tests.catalog_site import Registry, catalog_registry, free_port, sample_entries, sample_third_party

pytestmark = pytest.mark.slow  # a real Chromium, pages from a real registry and nginx

PWNED = "pwned"
HOSTILE_README = f"""\
# Hostile

<script>document.title = "{PWNED}"</script>

<img src="x" onerror="document.title = '{PWNED}'">

[click](javascript:document.title='{PWNED}')
"""
HOSTILE = HelperEntry(
    "hostile-helper", "hostile-helper", (HelperVersion("1.0.0", datetime(2026, 10, 31, 8, 0, tzinfo=UTC)),),
    ("mallory",), f'<img src="x" onerror="document.title = \'{PWNED}\'">', HOSTILE_README, "text/markdown",
)
NAMES = ["Drift_Monitor", "feature-store-client", "hostile-helper", "tabular-helpers", "vision-helpers"]


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    """A registry holding the sample helpers, one hostile helper and the mirror, in a folder nginx's
    workers (nobody) can read, unlike pytest's private temp folders."""
    folder = Path(tempfile.mkdtemp(prefix="catalog-registry-"))
    folder.chmod(0o755)
    try:
        with catalog_registry(folder / "registry", [*sample_entries(), HOSTILE], sample_third_party()) as running:
            yield running
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def front_url(registry: Registry) -> Iterator[str]:
    """The nginx front of that registry: the catalog pages from disk, ``/?q=`` from the registry."""
    listen = f"127.0.0.1:{free_port()}"
    front = start_front(FrontSettings(listen, registry.packages, registry.packages.parent / "front",
                                      app=f"127.0.0.1:{registry.port}"))
    yield f"http://{listen}/"
    front.terminate()
    front.wait(timeout=10)


@pytest.fixture(scope="module")
def catalog_url(registry: Registry) -> str:
    """Base URL of the registry, whose catalog the tests read."""
    return registry.url + "/"


def release_time(registry: Registry, name: str, version: str) -> str:
    """When a version was released as the index's own JSON page says (its first file's upload
    time), written as the pages write it."""
    page = requests.get(f"{registry.url}/simple/{name}/?format=application/vnd.pypi.simple.v1+json", timeout=10)
    stamps = [f["upload-time"] for f in page.json()["files"] if f"-{version}" in f["filename"]]
    assert len(stamps) == 2, stamps  # the wheel and the sdist
    return datetime.fromisoformat(min(stamps)).strftime("%Y-%m-%d %H:%M UTC")


def _browser(tmp_path_factory: pytest.TempPathFactory, **kw: object) -> Iterator[WebDriver]:
    try:
        require_browser()
    except BrowserMissing as exc:
        pytest.fail(str(exc))
    with chrome(tmp_path_factory.mktemp("chromium"), **kw) as driver:  # type: ignore[arg-type]
        yield driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    yield from _browser(tmp_path_factory)


@pytest.fixture(scope="module")
def browser_without_js(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    yield from _browser(tmp_path_factory, javascript=False)


def shown_helpers(driver: WebDriver) -> list[str]:
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#helpers > li h2 a") if a.is_displayed()]


def type_into_filter(driver: WebDriver, text: str) -> None:
    box = driver.find_element(By.ID, "q")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.BACKSPACE)
    if text:
        box.send_keys(text)


def wait_for_url(driver: WebDriver, part: str) -> None:
    WebDriverWait(driver, 10).until(lambda d: part in d.current_url
                                    and d.execute_script("return document.readyState") == "complete")


def test_catalog_shows_every_helper_with_its_newest_version(browser: WebDriver, catalog_url: str) -> None:
    browser.get(catalog_url)
    assert browser.title == "Helpers"
    assert shown_helpers(browser) == NAMES
    versions = [s.text for s in browser.find_elements(By.CSS_SELECTOR, "#helpers > li h2 .version")]
    assert versions == ["0.3.0", "2.0.0rc1", "1.0.0", "1.2.0", "1.0.1"]
    items = browser.find_elements(By.CSS_SELECTOR, "#helpers > li")
    marked = [li.find_element(By.CSS_SELECTOR, "h2 a").text for li in items
              if any(b.is_displayed() and b.text == "yanked" for b in li.find_elements(By.CSS_SELECTOR, ".badge"))]
    assert marked == ["Drift_Monitor"]
    assert "owners vision-team, ml-platform" in browser.find_element(By.LINK_TEXT, "vision-helpers") \
        .find_element(By.XPATH, "ancestor::li").text
    assert browser.find_element(By.ID, "count").text == "5 helpers"


def test_mirrored_wheels_are_apart_and_collapsed(browser: WebDriver, catalog_url: str) -> None:
    browser.get(catalog_url)
    numpy = browser.find_element(By.CSS_SELECTOR, 'a[href="helpers/numpy/"]')
    assert not numpy.is_displayed()
    assert "numpy" not in browser.find_element(By.ID, "helpers").text
    browser.find_element(By.CSS_SELECTOR, "details.third-party > summary").click()
    assert numpy.is_displayed()
    assert numpy.find_element(By.XPATH, "ancestor::tr").text == "numpy 2.1.3, 1.26.4"


def test_typing_in_the_filter_hides_the_other_helpers(browser: WebDriver, catalog_url: str) -> None:
    browser.get(catalog_url)
    type_into_filter(browser, "VISION")
    assert shown_helpers(browser) == ["vision-helpers"]
    assert browser.find_element(By.ID, "count").text == "1 of 5 helpers match"
    type_into_filter(browser, "ml-platform")  # owners
    assert shown_helpers(browser) == ["tabular-helpers", "vision-helpers"]
    type_into_filter(browser, "drift_monitor")  # separators fold as on the server
    assert shown_helpers(browser) == ["Drift_Monitor"]
    assert not browser.find_element(By.ID, "empty").is_displayed()
    type_into_filter(browser, "no-such-helper")
    assert shown_helpers(browser) == []
    assert browser.find_element(By.ID, "empty").text == "No helper matches the filter."
    type_into_filter(browser, "")
    assert shown_helpers(browser) == NAMES
    assert browser.current_url == catalog_url  # filtered in the page, nothing was requested


def test_filter_works_without_javascript(browser_without_js: WebDriver, catalog_url: str) -> None:
    driver = browser_without_js
    driver.get(catalog_url + "helpers/tabular-helpers/")
    assert driver.find_elements(By.CSS_SELECTOR, ".snippet button") == []  # the page's own script did not run
    driver.get(catalog_url)
    type_into_filter(driver, "imputation")
    assert shown_helpers(driver) == NAMES  # nothing filters as one types
    driver.find_element(By.ID, "q").send_keys(Keys.ENTER)
    wait_for_url(driver, "?q=imputation")
    assert shown_helpers(driver) == ["tabular-helpers"]
    assert driver.find_element(By.ID, "count").text == "1 of 5 helpers match “imputation” · show all"
    assert driver.find_element(By.ID, "q").get_attribute("value") == "imputation"
    driver.get(catalog_url + "?q=no-such-helper")
    assert driver.find_element(By.ID, "empty").is_displayed()
    driver.find_element(By.LINK_TEXT, "show all").click()
    WebDriverWait(driver, 10).until(lambda d: "?q=" not in d.current_url)
    assert shown_helpers(driver) == NAMES


def test_helper_page_shows_versions_requirements_image_and_snippets(
        browser: WebDriver, catalog_url: str, registry: Registry) -> None:
    browser.get(catalog_url)
    browser.find_element(By.LINK_TEXT, "tabular-helpers").click()
    wait_for_url(browser, "/helpers/tabular-helpers/")
    assert browser.title == "tabular-helpers 1.2.0 · Helpers"
    releases = browser.find_elements(By.CSS_SELECTOR, "#versions article.release")
    assert [r.find_element(By.TAG_NAME, "h3").text for r in releases] == ["1.2.0", "1.1.0", "1.0.0"]
    assert f"Released\n{release_time(registry, 'tabular-helpers', '1.2.0')}" in releases[0].text
    assert 'matplotlib>=3.8; extra == "plots"' in releases[0].text
    assert "registry.internal:5000/tabular-helpers@sha256:9b2d41c0" in releases[0].text
    snippets = [c.text for c in browser.find_elements(By.CSS_SELECTOR, ".snippet pre code")]
    simple = "http://pypi.helpers.svc.cluster.local:8080/simple/"
    assert snippets == [
        f"pip install --index-url {simple} --trusted-host pypi.helpers.svc.cluster.local tabular-helpers==1.2.0",
        f"uv pip install --index-url {simple} tabular-helpers==1.2.0",
        "helperhub pins bump tabular-helpers 1.2.0",
        "from helperhub.pipelines import Delivery, helper_component\n\n"
        'delivery = Delivery.from_lock("pins.json", mode="image")\n\n'
        '@helper_component(helpers=["tabular-helpers"], delivery=delivery)',
    ]
    readme = browser.find_element(By.CSS_SELECTOR, ".readme")
    assert readme.find_element(By.TAG_NAME, "h1").text == "tabular-helpers"
    assert readme.find_element(By.TAG_NAME, "table").is_displayed()
    copy = browser.find_element(By.CSS_SELECTOR, ".snippet button")
    copy.click()
    WebDriverWait(browser, 5).until(lambda _d: copy.text == "Copied")
    browser.find_element(By.LINK_TEXT, "← All helpers").click()
    WebDriverWait(browser, 10).until(lambda d: d.current_url == catalog_url)


def test_yanked_version_is_marked_with_its_reason(browser: WebDriver, catalog_url: str) -> None:
    browser.get(catalog_url + "helpers/drift-monitor/")
    first = browser.find_element(By.CSS_SELECTOR, "#versions article.release")
    badge = first.find_element(By.CSS_SELECTOR, "h3 .badge")
    assert badge.is_displayed() and badge.text == "yanked"
    assert "Yanked: computes PSI on the wrong bins; use 0.2.1." in first.text
    assert browser.find_element(By.CSS_SELECTOR, "#use h2").text == "Use 0.2.1"
    assert browser.find_elements(By.CSS_SELECTOR, "#versions article.release h3 .badge")[1:] == []


def test_uploaded_description_cannot_run_script(browser: WebDriver, catalog_url: str) -> None:
    browser.get(catalog_url)  # the summary, as text on the catalog
    assert browser.title == "Helpers"
    assert f"<img src=\"x\" onerror=\"document.title = '{PWNED}'\">" in browser.find_element(By.ID, "helpers").text
    browser.get(catalog_url + "helpers/hostile-helper/")
    WebDriverWait(browser, 5).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert browser.find_elements(By.CSS_SELECTOR, ".snippet button")  # scripts do run on this page: its own
    assert browser.title == "hostile-helper 1.0.0 · Helpers"
    links = [link for link in browser.find_elements(By.CSS_SELECTOR, ".readme a") if link.text]
    assert [link.text for link in links] == ["click"]
    links[0].click()  # a javascript: link would run now, were its href kept
    assert browser.title == "hostile-helper 1.0.0 · Helpers"
    assert browser.execute_script("return document.title") != PWNED
    readme = browser.find_element(By.CSS_SELECTOR, ".readme")
    assert readme.find_elements(By.TAG_NAME, "script") == []
    assert f'<script>document.title = "{PWNED}"</script>' in readme.text  # shown as text


def test_pages_fit_a_phone_in_dark_mode(tmp_path: Path, catalog_url: str) -> None:
    try:
        require_browser()
    except BrowserMissing as exc:
        pytest.fail(str(exc))
    with chrome(tmp_path / "profile") as driver:
        viewport(driver, *PHONE)
        prefer_dark(driver)
        for page in ("", "helpers/tabular-helpers/", "helpers/drift-monitor/"):
            driver.get(catalog_url + page)
            width, inner = driver.execute_script("return [document.documentElement.scrollWidth, innerWidth]")
            assert inner == PHONE[0] and width <= inner, f"{page or '/'} scrolls sideways on a phone: {width}px"
            rgb = driver.execute_script("return getComputedStyle(document.body).backgroundColor")
            assert rgb == "rgb(13, 17, 23)", rgb
        prefer_dark(driver, False)
        driver.get(catalog_url)
        assert driver.execute_script("return getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"


def test_screenshot_is_a_png_of_the_page(browser: WebDriver, catalog_url: str, tmp_path: Path) -> None:
    browser.get(catalog_url)
    path = tmp_path / "catalog.png"
    width, height = full_page_png(browser, path)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert png_size(data) == (width, height)
    assert 1200 <= width <= 1280 and height >= 700
    assert len(data) > 20_000  # a blank page of that size compresses to a few kB


def test_the_nginx_front_serves_the_catalog_from_disk(
        browser: WebDriver, browser_without_js: WebDriver, front_url: str, registry: Registry) -> None:
    catalog = registry.packages / ".catalog"
    for page, on_disk in (("", catalog / "index.html"),
                          ("helpers/tabular-helpers/", catalog / "helpers/tabular-helpers/index.html")):
        resp = requests.get(front_url + page, timeout=10)
        assert resp.status_code == 200 and resp.headers["Server"].startswith("nginx"), resp.headers
        assert resp.content == on_disk.read_bytes()  # the registry's rendering, as written to disk
        assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
        assert resp.headers["Cache-Control"] == "no-cache" and resp.headers["ETag"]
    browser.get(front_url)
    assert browser.title == "Helpers" and shown_helpers(browser) == NAMES
    type_into_filter(browser, "VISION")
    assert shown_helpers(browser) == ["vision-helpers"]
    browser.get(front_url + "helpers/Drift_Monitor/")  # not canonical: the registry redirects, through the front
    wait_for_url(browser, "/helpers/drift-monitor/")
    assert browser.current_url == front_url + "helpers/drift-monitor/"
    assert "Yanked: computes PSI on the wrong bins; use 0.2.1." in browser.find_element(By.ID, "versions").text
    missing = requests.get(front_url + "helpers/no-such-helper/", timeout=10)
    assert missing.status_code == 404 and "has no helper named <code>no-such-helper</code>." in missing.text

    driver = browser_without_js  # the filter form: /?q= goes to the registry through the front
    driver.get(front_url)
    type_into_filter(driver, "imputation")
    driver.find_element(By.ID, "q").send_keys(Keys.ENTER)
    wait_for_url(driver, "?q=imputation")
    assert driver.current_url == front_url + "?q=imputation"
    assert shown_helpers(driver) == ["tabular-helpers"]
    assert driver.find_element(By.ID, "count").text == "1 of 5 helpers match “imputation” · show all"
    driver.find_element(By.LINK_TEXT, "tabular-helpers").click()
    wait_for_url(driver, "/helpers/tabular-helpers/")
    assert driver.title == "tabular-helpers 1.2.0 · Helpers"
