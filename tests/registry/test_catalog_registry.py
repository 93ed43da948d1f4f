"""The catalog served by a real `helperhub registry serve`: pages rendered at each change and served
from memory with revalidation, the no-JavaScript filter, redirects and the page of an unknown name,
images recorded by owners after the upload (kept across a restart), owners-file changes, logins
for reads, and the release's call that records its image, which warns rather than fails."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from helperhub.core.errors import ConfigError, RegistryError
from helperhub.core.progress import Silent
from helperhub.images.stage import ImageSettings
from helperhub.lock.lockfile import load_lock
from helperhub.registry.client import IndexSettings, record_image_on_index, record_release_on_index
from helperhub.registry.server.stamps import STAMPS_FILE
from helperhub.release.project import discover, release_order
from helperhub.release.run import ImageStage, bake_images, show_image_in_index
from tests.catalog_site import password, upload, write_sdist, write_wheel
from tests.conftest import ReleasedRepo, free_port
from tests.sidebyside import Server

ALICE, BOB = "alice", "bob"
PUBLIC = "http://pypi.example.org:8080"
IMAGE = "registry.example:5000/img-lib@sha256:" + "cd" * 32


def start(tmp: Path, owners: str | None = None, options: tuple[str, ...] = ()) -> Server:
    """A registry with the users alice and bob (and ci), whose snippets name PUBLIC."""
    tmp.mkdir(parents=True, exist_ok=True)
    options = ("--public-url", PUBLIC, *options)
    if owners is not None:
        (tmp / "owners.toml").write_text(owners)
        options = ("--owners", str(tmp / "owners.toml"), *options)
    return Server("helperhub", tmp, options=options, users=((ALICE, password(ALICE)), (BOB, password(BOB)))).start()


def release(url: str, tmp: Path, user: str, name: str, version: str, summary: str = "", *,
            sdist: bool = True) -> None:
    """A helper release (wheel and sdist) by ``user``; wheel only: a mirrored project."""
    metadata = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n"
                "Description-Content-Type: text/markdown\n\n# " + name + "\n").encode()
    upload(url, user, write_wheel(tmp / name, name, version, metadata))
    if sdist:
        upload(url, user, write_sdist(tmp / name, name, version, metadata))


def snapshot(root: Path) -> dict[str, str]:
    # not the pages' stamps: saved up to a few seconds after the change they record, by design
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != STAMPS_FILE}


def version_section(page: str, version: str) -> str:
    return page.split(f'<article class="release" id="v{version}">', 1)[1].split("</article>", 1)[0]


def listed(page: str) -> list[str]:
    return re.findall(r'<a href="helpers/([^/"]+)/">', page)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start(tmp_path_factory.mktemp("catalog-hub"))
    yield server
    server.kill()


@pytest.mark.slow
def test_catalog_is_rendered_at_each_change_and_revalidated(hub: Server, tmp_path: Path) -> None:
    release(hub.url, tmp_path, ALICE, "route-lib", "1.0.0", "routing checks")
    release(hub.url, tmp_path, BOB, "numpy", "2.1.3", sdist=False)
    assert "numpy" in listed(requests.get(f"{hub.url}/", timeout=10).text)  # a plain upload: a helper release
    # until route-lib's release records that it mirrored numpy for its closure
    record = {"pin": {"version": "1.0.0"}, "mirrored": ["numpy-2.1.3-py3-none-any.whl"]}
    record_release_on_index(IndexSettings(hub.url, ALICE, password(ALICE)), "route-lib", "1.0.0", record)
    root = requests.get(f"{hub.url}/", timeout=10)
    assert root.status_code == 200 and root.headers["Content-Type"] == "text/html; charset=utf-8"
    assert root.headers["Cache-Control"] == "no-cache"
    assert root.content == (hub.packages / ".catalog/index.html").read_bytes()
    assert "route-lib" in listed(root.text) and "numpy" not in listed(root.text)
    assert '<tr><td><a class="mirrored" href="helpers/numpy/">numpy</a></td><td>2.1.3</td></tr>' in root.text
    etag = root.headers["ETag"]
    again = requests.get(f"{hub.url}/", headers={"If-None-Match": etag}, timeout=10)
    assert again.status_code == 304 and again.content == b""
    head = requests.head(f"{hub.url}/", timeout=10)
    assert head.status_code == 200 and head.content == b"" and head.headers["Content-Length"] == str(len(root.content))

    filtered = requests.get(f"{hub.url}/?q=ROUTING+checks", timeout=10)  # what the form sends without JavaScript
    assert filtered.status_code == 200 and listed(filtered.text) == ["route-lib"]
    assert "match “ROUTING checks” · <a href=\"./\">show all</a>" in filtered.text
    assert 'value="ROUTING checks"' in filtered.text
    assert requests.get(f"{hub.url}/?q=%20", timeout=10).content == root.content  # blank: the whole catalog

    page = requests.get(f"{hub.url}/helpers/route-lib/", timeout=10)
    assert page.status_code == 200 and page.headers["ETag"]
    assert page.content == (hub.packages / ".catalog/helpers/route-lib/index.html").read_bytes()
    assert (f"pip install --index-url {PUBLIC}/simple/ --trusted-host pypi.example.org route-lib==1.0.0"
            in page.text)  # the --public-url, not the address it listens on
    for spelt in ("Route_Lib/", "route.lib/", "route-lib"):
        moved = requests.get(f"{hub.url}/helpers/{spelt}", allow_redirects=False, timeout=10)
        assert (moved.status_code, moved.headers["Location"]) == (301, "/helpers/route-lib/"), spelt
    assert requests.get(f"{hub.url}/helpers/Route_Lib/", timeout=10).content == page.content
    missing = requests.get(f"{hub.url}/helpers/route-lip/", timeout=10)
    assert missing.status_code == 404 and '<nav><a href="../../">← All helpers</a></nav>' in missing.text
    assert 'Did you mean <a href="../../helpers/route-lib/">route-lib</a>?' in missing.text
    mirrored = requests.get(f"{hub.url}/helpers/numpy/", timeout=10)  # every project has a page
    assert mirrored.status_code == 200 and "Third-party project" in mirrored.text
    assert '<a href="../../helpers/route-lib/">route-lib 1.0.0</a>' in mirrored.text  # whose closure uses it
    assert json.loads(requests.get(f"{hub.url}/helpers/route-lib/1.0.0/release.json", timeout=10).text)[
        "mirrored"] == ["numpy-2.1.3-py3-none-any.whl"]
    assert requests.get(f"{hub.url}/helpers.json", timeout=10).json() == {"helpers": ["route-lib"]}

    release(hub.url, tmp_path, ALICE, "route-lib", "1.1.0", "routing checks")
    newer = requests.get(f"{hub.url}/", headers={"If-None-Match": etag}, timeout=10)
    assert newer.status_code == 200 and newer.headers["ETag"] != etag
    assert '<a href="helpers/route-lib/">route-lib</a> <span class="version">1.1.0</span>' in newer.text
    assert requests.get(f"{hub.url}/simple/route-lib/", timeout=10).status_code == 200  # the index is still there


def test_an_owner_records_the_image_of_a_release(hub: Server, tmp_path: Path) -> None:
    release(hub.url, tmp_path, ALICE, "img-lib", "1.0.0")
    release(hub.url, tmp_path, ALICE, "img-lib", "1.1.0")
    alice = IndexSettings(hub.url, ALICE, password(ALICE))
    # answered as the files spell the version
    assert record_image_on_index(alice, "Img_Lib", "1.0", IMAGE) == f"img-lib 1.0.0 image {IMAGE}"
    page = requests.get(f"{hub.url}/helpers/img-lib/", timeout=10)
    assert f'<dt>Image</dt>\n<dd><code class="hash">{IMAGE}</code></dd>' in version_section(page.text, "1.0.0")
    assert "<dt>Image</dt>" not in version_section(page.text, "1.1.0")
    assert (hub.packages / ".catalog/helpers/img-lib/index.html").read_bytes() == page.content
    assert json.loads((hub.packages / ".helperhub-images.json").read_text())["img-lib"] == {"1.0.0": {"default": IMAGE}}

    before = snapshot(hub.packages)
    bob = IndexSettings(hub.url, BOB, password(BOB))
    with pytest.raises(RegistryError, match=r"\(403\): img-lib belongs to alice; ask one of them to release it"):
        record_image_on_index(bob, "img-lib", "1.1.0", IMAGE)
    with pytest.raises(RegistryError, match=r"\(404\): img-lib has no version 9\.9; it has 1\.0\.0, 1\.1\.0"):
        record_image_on_index(alice, "img-lib", "9.9", IMAGE)
    with pytest.raises(RegistryError, match=r"\(404\): the index has no project no-such-lib"):
        record_image_on_index(alice, "no-such-lib", "1.0", IMAGE)
    with pytest.raises(RegistryError, match=r"\(400\): 'img-lib:1\.1\.0' is not an image by digest"):
        record_image_on_index(alice, "img-lib", "1.1.0", "img-lib:1.1.0")
    with pytest.raises(RegistryError, match=r"\(400\): 'x' is not a version"):
        record_image_on_index(alice, "img-lib", "x", IMAGE)
    with pytest.raises(ConfigError, match="refused the login of alice"):
        record_image_on_index(IndexSettings(hub.url, ALICE, "wrong"), "img-lib", "1.1.0", IMAGE)
    with pytest.raises(ConfigError, match="the index login is needed to record the image"):
        record_image_on_index(IndexSettings(hub.url), "img-lib", "1.1.0", IMAGE)
    form: dict[str, tuple[str | None, str | bytes]] = {
        ":action": (None, "set_image"), "name": (None, "img-lib"), "version": (None, "1.1.0"), "image": (None, IMAGE)}
    assert requests.post(f"{hub.url}/", files=form, timeout=10).status_code == 401
    with_file = requests.post(f"{hub.url}/", files={**form, "content": ("x.whl", b"x")},
                              auth=(ALICE, password(ALICE)), timeout=10)
    assert with_file.status_code == 400 and ":action=file_upload before its content" in with_file.text
    no_image = requests.post(f"{hub.url}/", files={k: v for k, v in form.items() if k != "image"},
                             auth=(ALICE, password(ALICE)), timeout=10)
    assert no_image.status_code == 400 and "a set_image form has the fields name, version and image" in no_image.text
    assert snapshot(hub.packages) == before  # refused: no record, no page changed


@pytest.mark.slow
def test_images_and_pages_survive_a_restart(tmp_path: Path) -> None:
    server = start(tmp_path / "reg")
    try:
        release(server.url, tmp_path, ALICE, "img-lib", "1.0.0")
        record_image_on_index(IndexSettings(server.url, ALICE, password(ALICE)), "img-lib", "1.0.0", IMAGE)
        before = {p: requests.get(f"{server.url}{p}", timeout=10).content for p in ("/", "/helpers/img-lib/")}
        server.stop()
        (server.packages / ".catalog/index.html").unlink()  # rendered again at start
        server.start()
        assert {p: requests.get(f"{server.url}{p}", timeout=10).content for p in before} == before
        assert (server.packages / ".catalog/index.html").read_bytes() == before["/"]
        assert IMAGE.encode() in before["/helpers/img-lib/"]
    finally:
        server.kill()


@pytest.mark.slow
def test_owners_file_changes_reach_the_catalog_at_the_next_change(tmp_path: Path) -> None:
    server = start(tmp_path / "reg", owners='[owners]\n"team-*" = ["alice"]\n')
    try:
        release(server.url, tmp_path, ALICE, "team-lib", "1.0.0")
        assert "owners alice</p>" in requests.get(f"{server.url}/", timeout=10).text
        (tmp_path / "reg" / "owners.toml").write_text('[owners]\n"team-*" = ["alice", "bob"]\n')
        release(server.url, tmp_path, BOB, "bob-lib", "1.0.0")  # a change of another project
        root = requests.get(f"{server.url}/", timeout=10).text
        assert "owners alice, bob</p>" in root  # team-lib, from the owners file
        assert "owners bob</p>" in root  # bob-lib, claimed by its first upload
        assert "owners alice, bob</p>" in requests.get(f"{server.url}/helpers/team-lib/", timeout=10).text
    finally:
        server.kill()


@pytest.mark.slow
def test_catalog_needs_a_login_when_reads_do(tmp_path: Path) -> None:
    server = start(tmp_path / "reg", options=("--auth-reads",))
    try:
        release(server.url, tmp_path, ALICE, "secret-lib", "1.0.0")
        for path in ("/", "/?q=secret", "/helpers/secret-lib/", "/helpers/Secret_Lib/", "/helpers/nothing/"):
            assert requests.get(f"{server.url}{path}", timeout=10).status_code == 401, path
        answer = requests.get(f"{server.url}/helpers/secret-lib/", auth=(BOB, password(BOB)), timeout=10)
        assert answer.status_code == 200 and "secret-lib" in answer.text
    finally:
        server.kill()


def test_a_release_that_cannot_record_its_image_warns_and_goes_on(hub: Server, tmp_path: Path) -> None:
    release(hub.url, tmp_path, ALICE, "warn-lib", "1.0.0")
    report = Silent()
    show_image_in_index(IndexSettings(hub.url, ALICE, "wrong"), "warn-lib", "1.0.0", IMAGE, "default", report)
    nowhere = f"http://127.0.0.1:{free_port()}"
    show_image_in_index(IndexSettings(nowhere, ALICE, "pw"), "warn-lib", "1.0.0", IMAGE, "default", report)
    show_image_in_index(IndexSettings(hub.url, BOB, password(BOB)), "warn-lib", "1.0.0", IMAGE, "default", report)
    prefix = "warning: the index's catalog does not show the image of warn-lib 1.0.0: "
    assert report.messages == [
        f"{prefix}the index at {hub.url} refused the login of alice; check HUB_INDEX_USER and HUB_INDEX_PASSWORD",
        f"{prefix}cannot reach the package index at {nowhere} (ConnectionError); start it with `make registry-up` "
        "or set HUB_INDEX_URL",
        f"{prefix}the index refused to record the image of warn-lib 1.0.0 (403): "
        "warn-lib belongs to alice; ask one of them "
        "to release it, or to add you to the owners file",
    ]
    assert "<dt>Image</dt>" not in requests.get(f"{hub.url}/helpers/warn-lib/", timeout=10).text
    quiet = Silent()
    show_image_in_index(IndexSettings(hub.url, ALICE, password(ALICE)), "warn-lib", "1.0.0", IMAGE, "default", quiet)
    assert quiet.messages == []
    assert IMAGE in requests.get(f"{hub.url}/helpers/warn-lib/", timeout=10).text


def test_a_release_shows_its_image_in_the_catalog(released_all: ReleasedRepo, client: Any) -> None:
    """The release pipeline records each image it pushed, as pinned in the lock. The session's
    index is shared (other tests bake the same versions into registries of their own and record
    those), so the image stage runs again here: unchanged images, recorded once more."""
    stage = ImageStage(ImageSettings(released_all.oci, released_all.base_image, released_all.index.settings), client)
    bake_images(stage, released_all.root / "pins.json", release_order(discover(released_all.root), []), Silent())
    lock = load_lock(released_all.root / "pins.json")
    url = released_all.index.settings.url
    for name in ("tabular-helpers", "vision-helpers"):
        pin = lock.require(name, fix="make release")
        assert pin.image is not None
        page = requests.get(f"{url}/helpers/{name}/", timeout=10)
        assert f'<code class="hash">{pin.image.ref}</code>' in version_section(page.text, pin.version), name
