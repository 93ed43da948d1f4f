"""The catalog's server side without a server: routing, the pre-rendered items joined for ``?q=``
(exactly the full rendering), entries built from the store's facts, the cache's pages in memory
and on disk as changes arrive, image references and their record, and the front's locations."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from packaging.version import Version

from helperhub.core.errors import ConfigError
from helperhub.core.metadata import CoreMetadata, parse_core_metadata
from helperhub.registry.server.catalog.cache import MAX_QUERY, CatalogCache, Listed, Listing, Sources
from helperhub.registry.server.catalog.data import build_entry, is_helper, released_at
from helperhub.registry.server.catalog.model import ThirdParty, search_text
from helperhub.registry.server.catalog.pages import (
    catalog_order,
    render_catalog,
    render_entry,
    render_helper,
    render_not_found,
    render_third_party,
)
from helperhub.registry.server.catalog.reads import Route, home_link, route
from helperhub.registry.server.metadata import FileFacts
from helperhub.registry.server.notes import IMAGES, ImageRefs, check_image_ref
from helperhub.registry.server.validate import UploadRefused
from helperhub.stack.front import FrontSettings, render_nginx_conf
from tests.catalog_site import sample_entries, sample_third_party

SHA = "ab" * 32
IMAGE = "registry.example:5000/tabular-helpers@sha256:" + "cd" * 32


@pytest.mark.parametrize(("path", "query", "expected"), [
    ("/", "", Route("catalog")),
    ("/", "q=", Route("catalog")),
    ("/", "q=+++", Route("catalog")),  # only blanks: the whole catalog, the static page
    ("/", "format=text/html", Route("catalog")),
    ("/", "q=ml-platform+gamma", Route("filter", "ml-platform gamma")),
    ("/", "q=%3Cscript%3E&x=1", Route("filter", "<script>")),
    ("/helpers/tabular-helpers/", "", Route("helper", "tabular-helpers")),
    ("/helpers/tabular-helpers/", "q=x", Route("helper", "tabular-helpers")),
    ("/helpers/Tabular_Helpers/", "", Route("redirect", "/helpers/tabular-helpers/")),
    ("/helpers/tabular.helpers", "a=1", Route("redirect", "/helpers/tabular-helpers/?a=1")),
    ("/helpers/tabular-helpers", "", Route("redirect", "/helpers/tabular-helpers/")),  # the slash
    ("/helpers/", "", Route("redirect", "/")),
    ("/helpers", "", Route("redirect", "/")),
    ("/helpers/tabular-helpers/files", "", Route("missing", "tabular-helpers")),
    ("/helpers/<script>/", "", Route("missing", "<script>")),  # never put into a Location
    ("/helpers/a\r\nSet-Cookie:x/", "", Route("missing", "a\r\nSet-Cookie:x")),
    ("/helpers//", "", Route("missing", "")),
    ("/simple/", "", Route("other")),
    ("/simple/tabular-helpers/", "q=x", Route("other")),
    ("/packages/tabular_helpers-1.2.0-py3-none-any.whl", "", Route("other")),
    ("/health", "", Route("other")),
    ("/helpersx/", "", Route("other")),
])
def test_routes(path: str, query: str, expected: Route) -> None:
    assert route(path, query) == expected


@pytest.mark.parametrize(("path", "home"), [
    ("/", "./"), ("/helpers/x/", "../../"), ("/helpers/x/files", "../../"), ("/helpers/x/a/b/", "../../../../"),
])
def test_a_missing_page_links_back_to_the_catalog_relatively(path: str, home: str) -> None:
    assert home_link(path) == home


def test_not_found_page_exact_parts() -> None:
    page = render_not_found("<b>drift</b>", "../../", ["drift-monitor"])
    assert "<title>No such helper · Helpers</title>" in page
    assert '<nav><a href="../../">← All helpers</a></nav>' in page
    assert ("<p>This index has no helper named <code>&lt;b&gt;drift&lt;/b&gt;</code>.</p>\n"
            '<p>Did you mean <a href="../../helpers/drift-monitor/">drift-monitor</a>?</p>\n') in page
    assert "<script" not in page and "Did you mean" not in render_not_found("x", "../../")


@pytest.mark.parametrize("query", ["", "  ", "VISION", "drift_monitor", "imputation", "ml-platform gamma",
                                   "nothing-like-this", '"><script>alert(1)</script>'])
def test_joined_items_are_the_full_rendering(query: str) -> None:
    """What the registry answers to ?q=: a filter over pre-rendered items and a join, the very text
    render_catalog gives."""
    entries, mirror = sample_entries(), sample_third_party()
    listing = Listing(tuple(Listed(h.name, search_text(h), render_entry(h)) for h in catalog_order(entries)),
                      render_third_party(mirror))
    assert listing.page(query) == render_catalog(entries, mirror, query)


# -- entries from the store's facts ------------------------------------------------------------------


def stamp(day: int, minute: int = 30) -> str:
    return f"2026-10-{day:02d}T10:{minute:02d}:00.000000Z"


def metadata(name: str, version: str, summary: str = "", requires: tuple[str, ...] = (),
             description: str = "", content_type: str = "text/markdown") -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}",
             *(f"Requires-Dist: {r}" for r in requires), f"Description-Content-Type: {content_type}"]
    return ("\n".join(lines) + "\n\n" + description).encode()


def test_metadata_is_read_as_installers_read_it() -> None:
    meta = parse_core_metadata(metadata("Tabular_Helpers", "1.0", "  Column\n  imputation ",
                                        ("numpy>=1.26", 'matplotlib>=3.8; extra == "plots"'), "# Title\n\nbody\n"))
    assert meta == CoreMetadata("Tabular_Helpers", "1.0", "Column imputation", "# Title\n\nbody", "text/markdown",
                                ("numpy>=1.26", 'matplotlib>=3.8; extra == "plots"'))
    older = parse_core_metadata(b"Metadata-Version: 1.1\nName: x\nVersion: 1\nDescription: the old way\n\n")
    assert older.description == "the old way" and older.description_content_type == ""
    assert parse_core_metadata(b"\xff\xfe not utf-8\n").name == ""  # never raises on bytes


def test_helpers_are_projects_with_an_sdist_other_than_the_tool() -> None:
    assert is_helper("tabular-helpers", ["tabular_helpers-1.0-py3-none-any.whl", "tabular_helpers-1.0.tar.gz"])
    assert not is_helper("numpy", ["numpy-2.1.3-cp311-cp311-manylinux_2_17_x86_64.whl"])
    assert not is_helper("helperhub", ["helperhub-0.1.0-py3-none-any.whl", "helperhub-0.1.0.tar.gz"])


def test_entry_from_facts() -> None:
    files = [
        FileFacts("lib-1.9.0-py3-none-any.whl", SHA, 100, stamp(2), ">=3.10"),
        FileFacts("lib-1.9.0.tar.gz", SHA, None, stamp(2, 31)),
        FileFacts("lib-1.10.0.tar.gz", SHA, 300, stamp(5, 1), ">=3.11"),  # the sdist came first
        FileFacts("lib-1.10.0-py3-none-any.whl", SHA, 200, stamp(5, 2), ">=3.11"),
        FileFacts("lib-1.1-py3-none-any.whl", SHA, 50, stamp(1)),
    ]
    meta = {"lib-1.10.0-py3-none-any.whl": CoreMetadata("Lib", "1.10.0", "new", "readme", "text/plain", ("numpy",)),
            "lib-1.10.0.tar.gz": CoreMetadata("Lib", "1.10.0", "from the sdist", "", "", ("not-this",)),
            "lib-1.9.0-py3-none-any.whl": CoreMetadata("lib", "1.9.0", "old", "", "", ("pandas",))}
    entry = build_entry("lib", files, meta.get, yanked={"1.1.0": "broken", "not a version": "x"},
                        owners=("alice",), images={"1.10": IMAGE})
    assert entry is not None
    assert [v.version for v in entry.versions] == ["1.10.0", "1.9.0", "1.1"]
    newest, middle, oldest = entry.versions
    assert (entry.display_name, entry.summary, entry.description, entry.description_content_type, entry.owners) == (
        "Lib", "new", "readme", "text/plain", ("alice",))
    assert newest.released == datetime(2026, 10, 5, 10, 1, tzinfo=UTC)  # its first file's upload
    assert newest.requires_dist == ("numpy",) and newest.image == IMAGE and newest.requires_python == ">=3.11"
    assert [f.filename for f in newest.files] == ["lib-1.10.0-py3-none-any.whl", "lib-1.10.0.tar.gz"]
    assert middle.requires_dist == ("pandas",) and middle.image is None
    assert [(f.filename, f.size) for f in middle.files][1] == ("lib-1.9.0.tar.gz", 0)  # size unknown
    assert oldest.yanked == "broken" and oldest.requires_dist == () and middle.yanked is None  # 1.1 is 1.1.0
    assert build_entry("lib", [FileFacts("lib-latest.tar.gz", SHA)], meta.get) is None
    assert released_at(None) == released_at("garbage") == datetime(1970, 1, 1, tzinfo=UTC)


# -- the cache, as changes arrive ------------------------------------------------------------------


class Store:
    """What the store keeps, as the cache reads it."""

    def __init__(self) -> None:
        self.metadata: dict[str, bytes] = {}
        self.owners: dict[str, tuple[str, ...]] = {}
        self.yanked: dict[str, dict[str, str]] = {}
        self.images: dict[str, dict[str, str]] = {}

    def sources(self) -> Sources:
        return Sources(self.metadata.get, lambda p: self.owners.get(p, ()), lambda p: self.yanked.get(p, {}),
                       lambda p: self.images.get(p, {}))

    def release(self, name: str, version: str, day: int, *, sdist: bool = True,
                summary: str = "") -> list[FileFacts]:
        module = name.replace("-", "_")
        wheel = FileFacts(f"{module}-{version}-py3-none-any.whl", SHA, 100, stamp(day))
        self.metadata[wheel.filename] = metadata(name, version, summary or f"{name} summary", (), f"# {name}\n")
        return [wheel, FileFacts(f"{module}-{version}.tar.gz", SHA, 200, stamp(day, 31))] if sdist else [wheel]


def project(filename: str) -> str:
    return filename.split("-")[0].replace("_", "-")


def test_cache_renders_every_page_once_and_writes_them(tmp_path: Path) -> None:
    store = Store()
    store.owners["tabular-helpers"] = ("ml-platform",)
    files = [*store.release("tabular-helpers", "1.0.0", 1), *store.release("tabular-helpers", "1.1.0", 2),
             *store.release("numpy", "2.1.3", 1, sdist=False), *store.release("numpy", "1.26.4", 1, sdist=False),
             *store.release("helperhub", "0.1.0", 1), *store.release("late-helper", "1.0", 3, sdist=False)]
    cache = CatalogCache(tmp_path, "http://pypi.example:8080", store.sources())
    cache.rebuild({f.filename: f for f in files}, {f.filename: project(f.filename) for f in files})

    assert cache.helper_names() == ["tabular-helpers"]
    assert cache.third_party() == [ThirdParty("helperhub", ("0.1.0",)), ThirdParty("late-helper", ("1.0",)),
                                   ThirdParty("numpy", ("2.1.3", "1.26.4"))]
    (entry,) = cache.entries()
    assert (entry.version, entry.owners, entry.summary) == ("1.1.0", ("ml-platform",), "tabular-helpers summary")
    page = cache.helper("tabular-helpers")
    assert page is not None and page.body == render_helper(entry, "http://pypi.example:8080").encode()
    assert (tmp_path / "helpers/tabular-helpers/index.html").read_bytes() == page.body
    assert (tmp_path / "index.html").read_bytes() == cache.root().body == render_catalog(
        cache.entries(), cache.third_party()).encode()
    mirrored = cache.helper("numpy")  # rendered when asked, never written
    assert mirrored is not None and b"Third-party project" in mirrored.body
    assert not (tmp_path / "helpers/numpy").exists()

    # an sdist turns a mirrored-looking project into a helper
    late_sdist = FileFacts("late_helper-1.0.tar.gz", SHA, 10, stamp(4))
    cache.add("late-helper", late_sdist)
    assert cache.helper_names() == ["late-helper", "tabular-helpers"]
    assert [p.name for p in cache.third_party()] == ["helperhub", "numpy"]
    assert (tmp_path / "helpers/late-helper/index.html").is_file()
    for query in ("", "late", "tabular summary", "nothing"):
        assert cache.filtered(query) == render_catalog(cache.entries(), cache.third_party(), query).encode()
    assert cache.filtered("x" * (MAX_QUERY + 50)) == cache.listing.page("x" * MAX_QUERY).encode()


def test_cache_follows_yanks_images_and_owners(tmp_path: Path) -> None:
    store = Store()
    store.owners["tabular-helpers"] = ("ml-platform",)
    files = [*store.release("tabular-helpers", "1.0.0", 1), *store.release("tabular-helpers", "1.1.0", 2),
             *store.release("numpy", "2.1.3", 1, sdist=False)]
    cache = CatalogCache(tmp_path, "http://pypi.example:8080", store.sources())
    cache.rebuild({f.filename: f for f in files}, {f.filename: project(f.filename) for f in files})
    root, index = cache.root(), tmp_path / "index.html"
    written = index.stat().st_mtime_ns

    store.yanked["tabular-helpers"] = {"1.0.0": "wrong <bins>"}  # not the newest: the list stays as it is
    cache.changed("tabular-helpers")
    helper = cache.helper("tabular-helpers")
    assert helper is not None and b"Yanked: wrong &lt;bins&gt;." in helper.body
    assert cache.root() is root and index.stat().st_mtime_ns == written

    store.images["tabular-helpers"] = {"1.1.0": IMAGE}
    cache.changed("tabular-helpers")
    helper = cache.helper("tabular-helpers")
    assert helper is not None and f'<dd><code class="hash">{IMAGE}</code></dd>'.encode() in helper.body
    assert (tmp_path / "helpers/tabular-helpers/index.html").read_bytes() == helper.body

    store.yanked["tabular-helpers"]["1.1.0"] = ""  # the newest: the catalog marks it
    cache.changed("tabular-helpers")
    assert cache.root() is not root and b'<span class="badge yanked">yanked</span>' in index.read_bytes()

    store.owners["tabular-helpers"] = ("ml-platform", "vision-team")  # the owners file changed...
    assert b"vision-team" not in cache.root().body
    cache.add("numpy", FileFacts("numpy-1.26.4-py3-none-any.whl", SHA, 1, stamp(3)))  # ...seen at the next change
    assert b"owners ml-platform, vision-team" in cache.root().body
    assert b"owners ml-platform, vision-team" in (tmp_path / "helpers/tabular-helpers/index.html").read_bytes()
    cache.changed("no-such-project")  # nothing to render


def test_a_page_that_fails_to_render_keeps_its_last_rendering(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = Store()
    files = store.release("tabular-helpers", "1.0.0", 1)
    cache = CatalogCache(tmp_path, "http://pypi.example:8080", store.sources())
    cache.rebuild({f.filename: f for f in files}, {f.filename: project(f.filename) for f in files})
    before = cache.helper("tabular-helpers")

    def broken(_project: str) -> dict[str, str]:
        raise RuntimeError("disk on fire")

    cache.sources = Sources(store.metadata.get, lambda p: (), broken, lambda p: {})
    cache.changed("tabular-helpers")  # does not raise: the change behind it has happened
    assert cache.helper("tabular-helpers") is before
    assert "catalog: the page of tabular-helpers not updated: RuntimeError: disk on fire" in capsys.readouterr().err


def test_pages_of_helpers_no_longer_in_the_folder_are_dropped_at_start(tmp_path: Path) -> None:
    stale = tmp_path / "helpers/gone-helper/index.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    store = Store()
    files = store.release("tabular-helpers", "1.0.0", 1)
    CatalogCache(tmp_path, "http://h", store.sources()).rebuild(
        {f.filename: f for f in files}, {f.filename: project(f.filename) for f in files})
    assert not stale.exists() and (tmp_path / "helpers/tabular-helpers/index.html").is_file()


# -- images ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ref", [
    IMAGE,
    "127.0.0.1:5000/tabular-helpers@sha256:" + "0" * 64,
    "tabular-helpers@sha256:" + "f" * 64,
    "registry.example/team/ml/vision_helpers@sha256:" + "1" * 64,
    "localhost:5000/a.b__c--d@sha256:" + "2" * 64,
    f"  {IMAGE}\n",  # surrounding blanks are dropped
])
def test_image_references_by_digest_are_taken(ref: str) -> None:
    assert check_image_ref(ref) == ref.strip()


@pytest.mark.parametrize("ref", [
    "", "tabular-helpers:1.2.0", "registry.example:5000/tabular-helpers:1.2.0",  # a tag moves: a digest does not
    "registry.example:5000/Tabular-Helpers@sha256:" + "0" * 64,  # repository paths are lowercase
    "x@sha256:" + "0" * 63, "x@sha256:" + "G" * 64, "x@sha512:" + "0" * 128,
    "x:1.0@sha256:" + "0" * 64, "<script>@sha256:" + "0" * 64, "a b@sha256:" + "0" * 64,
    "x@sha256:" + "0" * 64 + "\nx", "http://registry/x@sha256:" + "0" * 64,
    "r/" + "a" * 600 + "@sha256:" + "0" * 64,
])
def test_other_image_references_are_refused_in_one_line(ref: str) -> None:
    with pytest.raises(UploadRefused, match="is not an image by digest; give one like") as refused:
        check_image_ref(ref)
    assert "\n" not in str(refused.value).replace("\\n", "") and len(str(refused.value)) < 300


def test_image_record_is_durable_and_one_per_version(tmp_path: Path) -> None:
    refs = ImageRefs(tmp_path)
    assert refs.set("lib", Version("1.1.0"), IMAGE) == {"1.1.0": {"default": IMAGE}}
    other = IMAGE.replace("cd", "ef")
    assert refs.set("lib", Version("1.1"), other) == {"1.1": {"default": other}}  # the same version, spelt otherwise
    assert ImageRefs(tmp_path).all() == {"lib": {"1.1": {"default": other}}}
    assert oct(os.stat(tmp_path / IMAGES).st_mode & 0o777) == "0o644"
    (tmp_path / IMAGES).write_text("{not json")
    with pytest.raises(ConfigError, match="is not valid JSON"):
        ImageRefs(tmp_path)


# -- the front -----------------------------------------------------------------------------------------


def test_front_serves_the_catalog_from_disk_and_the_filter_from_the_registry(tmp_path: Path) -> None:
    conf = render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st", app="127.0.0.1:8080"))
    catalog = (tmp_path / "pk").resolve() / ".catalog"
    assert ('map "$request_method:$args" $hub_catalog_static {\n    default 0;\n    "GET:" 1;\n    "HEAD:" 1;\n'
            "  }") in conf
    assert "if ($hub_catalog_static) {\n      rewrite ^/$ /.catalog/ last;\n    }" in conf
    assert (f"location = /.catalog/ {{\n      internal;\n      root {catalog};\n      default_type text/html;\n"
            "      charset utf-8;\n      add_header Cache-Control no-cache;\n"
            "      try_files /index.html @app_catalog;\n    }") in conf
    assert (f"location ~ ^/helpers/([a-z0-9][a-z0-9-]*)/$ {{\n      root {catalog};\n") in conf
    assert "try_files /helpers/$1/index.html @app;" in conf
    assert "location @app_catalog { proxy_pass http://hub_registry$request_uri;" in conf  # the URI before rewriting
    upload = conf.split("    location / {\n", 1)[1].split("\n    }", 1)[0]
    assert "proxy_http_version 1.1;" in upload and "proxy_request_buffering off;" in upload
    static = render_nginx_conf(FrontSettings("127.0.0.1:9000", tmp_path / "pk", tmp_path / "st"))
    assert "try_files /index.html =404;\n    }\n    location ~ ^/helpers/" in static
    assert "try_files /helpers/$1/index.html =404;" in static and "@app" not in static
