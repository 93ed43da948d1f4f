"""The index speaks the modern protocol and teams own their names, checked with real clients (pip,
uv, twine) against a real `helperhub registry serve`: PEP 691 JSON pages, PEP 658 metadata files,
PEP 700 upload times and versions, PEP 592 yanks, and per-project owners."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

from helperhub.registry.server.stamps import STAMPS_FILE
from helperhub.stack.embedded import add_user
from helperhub.stack.front import FrontSettings, start_front
from tests.conftest import free_port
from tests.indexclients import (
    PIP_ACCEPT,
    TWINE,
    UV,
    UV_ACCEPT,
    Dist,
    build_sdist,
    build_wheel,
    pip_resolve,
    recording,
    run,
    uv_resolve,
    uv_venv,
)
from tests.sidebyside import PASSWORD, USER, Server

JSON = "application/vnd.pypi.simple.v1+json"
ALICE, BOB = ("alice", "alice-pw"), ("bob", "bob-pw")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")  # PEP 700


def start(tmp: Path, owners: str | None = None, options: tuple[str, ...] = ()) -> Server:
    """A registry with the users ci, alice and bob, and an owners file if given."""
    tmp.mkdir(parents=True, exist_ok=True)
    for user, password in ((USER, PASSWORD), ALICE, BOB):
        add_user(tmp / "htpasswd", user, password)
    if owners is not None:
        (tmp / "owners.toml").write_text(owners)
        options = ("--owners", str(tmp / "owners.toml"), *options)
    return Server("helperhub", tmp, options=options).start()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One registry for the tests that only add projects of their own; ``team-*`` is alice's."""
    server = start(tmp_path_factory.mktemp("hub"), owners='[owners]\n"team-*" = ["alice"]\n')
    yield server
    server.kill()


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where pip and uv keep their caches, with a venv for uv to resolve into."""
    tmp = tmp_path_factory.mktemp("clients")
    uv_venv(tmp)
    return tmp


def venv_python(clients: Path) -> Path:
    return clients / "venv" / "bin" / "python"


def post(url: str, dist: Dist, auth: tuple[str, str] = ALICE) -> requests.Response:
    return requests.post(f"{url}/", data={":action": "file_upload", "protocol_version": "1"},
                         files={"content": (dist.name, dist.path.read_bytes())}, auth=auth, timeout=60)


def yank(url: str, name: str, version: str, reason: str | None = None, *, undo: bool = False,
         auth: tuple[str, str] | None = ALICE) -> requests.Response:
    """The wire protocol of a yank: a multipart form posted to the upload endpoint."""
    fields = {":action": (None, "unyank" if undo else "yank"), "name": (None, name), "version": (None, version)}
    if reason is not None:
        fields["reason"] = (None, reason)
    return requests.post(f"{url}/", files=fields, auth=auth, timeout=30)


def json_page(url: str, project: str = "") -> dict[str, object]:
    resp = requests.get(f"{url}/simple/{project + '/' if project else ''}", headers={"Accept": PIP_ACCEPT}, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == JSON, resp.headers
    return resp.json()  # type: ignore[no-any-return]


def json_files(url: str, project: str) -> dict[str, dict[str, object]]:
    return {f["filename"]: f for f in json_page(url, project)["files"]}  # type: ignore[attr-defined]


class Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, dict[str, str | None]] = {}
        self.meta: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "a":
            self.links[(found["href"] or "").split("#")[0].rsplit("/", 1)[-1]] = found
        elif tag == "meta":
            self.meta[found.get("name") or ""] = found.get("content")


def html_page(url: str, project: str, accept: str | None = None) -> Anchors:
    resp = requests.get(f"{url}/simple/{project}/", headers={"Accept": accept} if accept else {}, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html"), resp.headers
    assert resp.headers["Vary"] == "Accept"
    parser = Anchors()
    parser.feed(resp.text)
    return parser


def snapshot(root: Path) -> dict[str, str]:
    """Every file under the package folder, hidden ones too (temp files, records, claims, pages)."""
    # not the pages' stamps: saved up to a few seconds after the change they record, by design
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != STAMPS_FILE}


def twine_upload(url: str, auth: tuple[str, str], tmp: Path, *dists: Dist) -> subprocess.CompletedProcess[str]:
    return run([TWINE, "upload", "--repository-url", f"{url}/", "-u", auth[0], "-p", auth[1], "--non-interactive",
                "--disable-progress-bar", *(d.path for d in dists)], tmp, check=False)


def uv_publish(url: str, auth: tuple[str, str], tmp: Path, dist: Dist,
               *extra: str) -> subprocess.CompletedProcess[str]:
    return run([UV, "publish", "--publish-url", f"{url}/", "-u", auth[0], "-p", auth[1], *extra, dist.path],
               tmp, check=False)


def one_line(text: str) -> str:
    return " ".join(text.split())


# -- the pages -------------------------------------------------------------------------------------


def test_pages_carry_every_fact_of_every_file(hub: Server, tmp_path: Path) -> None:
    dists = [
        build_wheel(tmp_path, "facts-lib", "1.9.0", requires_python=">=3.8, <4"),
        build_wheel(tmp_path, "facts-lib", "1.10.0"),
        build_sdist(tmp_path, "facts-lib", "1.10.0", requires_python=">=3.9"),
        build_wheel(tmp_path, "facts-lib", "2.0.0rc1", requires=["numpy>=1"]),
    ]
    before = datetime.now(UTC)
    proc = twine_upload(hub.url, ALICE, tmp_path, *dists)  # twine uploads work as they do to PyPI
    after = datetime.now(UTC)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    page = json_page(hub.url, "facts-lib")
    assert page["meta"] == {"api-version": "1.1"} and page["name"] == "facts-lib"
    assert page["versions"] == ["1.9.0", "1.10.0", "2.0.0rc1"]
    files = json_files(hub.url, "facts-lib")
    html = html_page(hub.url, "facts-lib")
    assert html.meta["pypi:repository-version"] == "1.1"
    assert sorted(files) == sorted(html.links) == sorted(d.name for d in dists)
    for dist in dists:
        entry, link = files[dist.name], html.links[dist.name]
        assert entry["hashes"] == {"sha256": dist.sha256} and link["href"].endswith(f"#sha256={dist.sha256}")  # type: ignore[union-attr]
        assert entry["size"] == dist.path.stat().st_size and entry["yanked"] is False and "data-yanked" not in link
        stamp = str(entry["upload-time"])
        assert STAMP.match(stamp) and before <= datetime.fromisoformat(stamp) <= after, stamp
        expected_python = {"facts_lib-1.9.0-py3-none-any.whl": ">=3.8, <4",
                           "facts_lib-1.10.0.tar.gz": ">=3.9"}.get(dist.name)
        assert entry.get("requires-python") == link.get("data-requires-python") == expected_python
        served = requests.get(f"{hub.url}/packages/{dist.name}.metadata", timeout=10)
        if dist.name.endswith(".whl"):  # PEP 658/714: the wheel's own METADATA, by its hash
            sha = hashlib.sha256(dist.metadata).hexdigest()
            assert entry["core-metadata"] == {"sha256": sha} and "dist-info-metadata" not in entry  # PEP 714
            assert link["data-core-metadata"] == link["data-dist-info-metadata"] == f"sha256={sha}"
            assert served.status_code == 200 and served.content == dist.metadata
            assert served.headers["ETag"] == f'"{sha}"' and "immutable" in served.headers["Cache-Control"]
        else:
            assert entry["core-metadata"] is False and "dist-info-metadata" not in entry
            assert "data-core-metadata" not in link and served.status_code == 404
    root = json_page(hub.url)
    assert root["meta"] == {"api-version": "1.1"} and {"name": "facts-lib"} in root["projects"]  # type: ignore[operator]


def test_pages_are_negotiated_and_revalidated_per_format(hub: Server, tmp_path: Path) -> None:
    assert post(hub.url, build_wheel(tmp_path, "neg-lib", "1.0")).status_code == 200
    page = f"{hub.url}/simple/neg-lib/"
    answers = {accept: requests.get(page, headers={"Accept": accept}, timeout=10)
               for accept in ("*/*", "text/html", PIP_ACCEPT, UV_ACCEPT, f"{JSON};q=0, text/html;q=0.5")}
    kinds = {accept: r.headers["Content-Type"] for accept, r in answers.items()}
    assert kinds == {"*/*": "text/html; charset=utf-8", "text/html": "text/html; charset=utf-8",
                     PIP_ACCEPT: JSON, UV_ACCEPT: JSON, f"{JSON};q=0, text/html;q=0.5": "text/html; charset=utf-8"}
    assert all(r.headers["Vary"] == "Accept" for r in answers.values())
    html_tag, json_tag = answers["text/html"].headers["ETag"], answers[PIP_ACCEPT].headers["ETag"]
    assert html_tag != json_tag
    again = requests.get(page, headers={"Accept": PIP_ACCEPT, "If-None-Match": json_tag}, timeout=10)
    assert again.status_code == 304
    stale = requests.get(page, headers={"Accept": "text/html", "If-None-Match": json_tag}, timeout=10)
    assert stale.status_code == 200 and stale.headers["ETag"] == html_tag
    query = requests.get(f"{page}?format=application/vnd.pypi.simple.v1+json", timeout=10)
    assert query.headers["Content-Type"] == JSON and query.json()["name"] == "neg-lib"
    assert requests.get(f"{page}?format=application/json", timeout=10).status_code == 406
    moved = requests.get(f"{hub.url}/simple/Neg_Lib/", headers={"Accept": PIP_ACCEPT}, timeout=10)
    assert moved.url == page and moved.headers["Content-Type"] == JSON  # redirected to the canonical name


@pytest.mark.slow
def test_installers_resolve_from_metadata_files_without_downloading_wheels(
        hub: Server, tmp_path: Path, clients: Path) -> None:
    dists = [build_wheel(tmp_path, "meta-app", "1.0", requires=["meta-lib>=1"]),
             build_wheel(tmp_path, "meta-lib", "1.0"), build_wheel(tmp_path, "meta-lib", "2.0"),
             build_wheel(tmp_path, "meta-lib", "3.0", requires_python=">=3.12")]  # not for the 3.11 clients
    for dist in dists:
        assert post(hub.url, dist).status_code == 200
    for name, resolve in (("pip", lambda url: pip_resolve(url, "meta-app", clients)),
                          ("uv", lambda url: uv_resolve(url, "meta-app", venv_python(clients), clients))):
        with recording(hub.url) as proxy:
            assert resolve(proxy.url) == {"meta-app": "1.0", "meta-lib": "2.0"}, name
        assert sorted(proxy.paths(".metadata")) == [f"/packages/{d.name}.metadata" for d in dists[:3:2]], name
        assert proxy.paths(".whl") == [], f"{name} downloaded wheels: {proxy.paths('.whl')}"
        assert not [p for p in proxy.paths() if "3.0" in p], name  # Requires-Python ruled it out from the page
        pages = [s for s in proxy.seen if s.path.startswith("/simple/")]
        assert pages and all(s.content_type == JSON for s in pages), name  # both read the JSON pages


# -- yanks -----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_yanked_version_is_skipped_by_ranges_and_installed_by_pins(
        hub: Server, tmp_path: Path, clients: Path) -> None:
    for version in ("1.0.0", "1.1.0"):
        assert post(hub.url, build_wheel(tmp_path, "yank-lib", version)).status_code == 200
    answer = yank(hub.url, "Yank_Lib", "1.1.0", "crashes on import <3.11>")
    assert (answer.status_code, answer.text.strip()) == (200, "yank-lib 1.1.0 yanked")
    name = "yank_lib-1.1.0-py3-none-any.whl"
    assert json_files(hub.url, "yank-lib")[name]["yanked"] == "crashes on import <3.11>"
    assert html_page(hub.url, "yank-lib").links[name]["data-yanked"] == "crashes on import <3.11>"
    on_disk = json.loads((hub.packages / ".simple" / "yank-lib" / "index.json").read_text())  # what the front serves
    assert {f["filename"]: f["yanked"] for f in on_disk["files"]}[name] == "crashes on import <3.11>"
    python = venv_python(clients)
    assert pip_resolve(hub.url, "yank-lib>=1.0", clients) == {"yank-lib": "1.0.0"}
    assert pip_resolve(hub.url, "yank-lib==1.1.0", clients) == {"yank-lib": "1.1.0"}
    assert uv_resolve(hub.url, "yank-lib>=1.0", python, clients) == {"yank-lib": "1.0.0"}
    assert uv_resolve(hub.url, "yank-lib==1.1.0", python, clients) == {"yank-lib": "1.1.0"}

    assert yank(hub.url, "yank-lib", "1.1.0").status_code == 200  # again, without a reason
    assert json_files(hub.url, "yank-lib")[name]["yanked"] is True
    assert html_page(hub.url, "yank-lib").links[name]["data-yanked"] == ""  # present and empty
    answer = yank(hub.url, "yank-lib", "1.1", undo=True)  # 1.1 == 1.1.0
    assert (answer.status_code, answer.text.strip()) == (200, "yank-lib 1.1.0 unyanked")
    assert json_files(hub.url, "yank-lib")[name]["yanked"] is False
    assert pip_resolve(hub.url, "yank-lib>=1.0", clients) == {"yank-lib": "1.1.0"}


def test_yank_answers_say_what_is_wrong(hub: Server, tmp_path: Path) -> None:
    assert post(hub.url, build_wheel(tmp_path, "ask-lib", "1.0.0")).status_code == 200
    missing = yank(hub.url, "ask-lib", "9.9")
    assert missing.status_code == 404 and "ask-lib has no version 9.9; it has 1.0.0" in missing.text
    assert yank(hub.url, "no-such-lib", "1.0").status_code == 404
    assert yank(hub.url, "ask-lib", "1.0.0", auth=None).status_code == 401
    assert yank(hub.url, "ask-lib", "1.0.0", auth=("alice", "wrong")).status_code == 401
    assert yank(hub.url, "ask-lib", "not a version").status_code == 400
    assert json_files(hub.url, "ask-lib")["ask_lib-1.0.0-py3-none-any.whl"]["yanked"] is False


# -- upload times ----------------------------------------------------------------------------------


def test_installers_honour_upload_times(hub: Server, tmp_path: Path, clients: Path) -> None:
    assert post(hub.url, build_wheel(tmp_path, "time-lib", "1.0.0")).status_code == 200
    time.sleep(0.3)
    cutoff = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.3)
    assert post(hub.url, build_wheel(tmp_path, "time-lib", "2.0.0")).status_code == 200
    python = venv_python(clients)
    assert uv_resolve(hub.url, "time-lib", python, clients, "--exclude-newer", cutoff) == {"time-lib": "1.0.0"}
    assert uv_resolve(hub.url, "time-lib", python, clients) == {"time-lib": "2.0.0"}
    assert pip_resolve(hub.url, "time-lib", clients, "--uploaded-prior-to", cutoff) == {"time-lib": "1.0.0"}


# -- publishing ------------------------------------------------------------------------------------


def test_uv_publish_with_check_url_skips_a_file_already_there(hub: Server, tmp_path: Path) -> None:
    dist = build_wheel(tmp_path, "pub-lib", "1.0.0")
    check = ("--check-url", f"{hub.url}/simple/")
    first = uv_publish(hub.url, ALICE, tmp_path, dist, *check)
    assert first.returncode == 0, first.stderr
    before = snapshot(hub.packages)
    second = uv_publish(hub.url, ALICE, tmp_path, dist, *check)
    assert second.returncode == 0 and "already exists, skipping" in second.stderr, second.stderr
    assert snapshot(hub.packages) == before
    assert json_files(hub.url, "pub-lib")[dist.name]["hashes"] == {"sha256": dist.sha256}


# -- owners ----------------------------------------------------------------------------------------


def test_the_first_uploader_owns_a_project(hub: Server, tmp_path: Path) -> None:
    assert twine_upload(hub.url, ALICE, tmp_path, build_wheel(tmp_path, "own-lib", "1.0.0")).returncode == 0
    before = snapshot(hub.packages)
    refused = post(hub.url, build_wheel(tmp_path, "own-lib", "1.1.0"), auth=BOB)
    message = "own-lib belongs to alice; ask one of them to release it, or to add you to the owners file"
    assert refused.status_code == 403 and message in refused.text and message in refused.reason
    large = build_wheel(tmp_path, "own-lib", "1.2.0", payload=os.urandom(24 << 20))  # refused before its body
    twine = twine_upload(hub.url, BOB, tmp_path, large)
    assert twine.returncode != 0 and message in one_line(twine.stdout + twine.stderr)  # what a twine user reads
    uv = uv_publish(hub.url, BOB, tmp_path, build_wheel(tmp_path, "own-lib", "1.3.0"))
    assert uv.returncode != 0 and message in one_line(uv.stderr)  # what a uv user reads
    yanked = yank(hub.url, "own-lib", "1.0.0", auth=BOB)
    assert yanked.status_code == 403 and "own-lib belongs to alice; ask one of them to yank it" in yanked.text
    assert snapshot(hub.packages) == before  # no file, no temp file, no claim, no page changed
    assert yank(hub.url, "own-lib", "1.0.0").status_code == 200  # the owner may


def test_the_owners_file_gives_projects_to_teams(hub: Server, tmp_path: Path) -> None:
    before = snapshot(hub.packages)
    refused = post(hub.url, build_wheel(tmp_path, "team-tools", "1.0.0"), auth=BOB)  # first, but not the owner
    assert refused.status_code == 403 and "team-tools belongs to alice;" in refused.text
    assert snapshot(hub.packages) == before
    assert post(hub.url, build_wheel(tmp_path, "team-tools", "1.0.0"), auth=ALICE).status_code == 200
    claims = json.loads((hub.packages / ".helperhub-owners.json").read_text())
    assert "team-tools" not in claims  # the file's owners, not a claim


@pytest.mark.slow
def test_claims_survive_a_restart_and_the_owners_file_is_reread(tmp_path: Path) -> None:
    server = start(tmp_path / "reg", owners='[owners]\n"team-*" = ["alice"]\n')
    try:
        assert post(server.url, build_wheel(tmp_path, "free-lib", "1.0.0"), auth=BOB).status_code == 200
        server.stop()
        server.start()
        refused = post(server.url, build_wheel(tmp_path, "free-lib", "1.1.0"), auth=ALICE)
        assert refused.status_code == 403 and "free-lib belongs to bob;" in refused.text
        owners = tmp_path / "reg" / "owners.toml"
        owners.write_text('[owners]\n"team-*" = ["alice"]\n"free-*" = ["alice", "carol"]\n')  # while it runs
        assert post(server.url, build_wheel(tmp_path, "free-lib", "1.1.0"), auth=ALICE).status_code == 200
        refused = post(server.url, build_wheel(tmp_path, "free-lib", "1.2.0"), auth=BOB)
        assert refused.status_code == 403 and "free-lib belongs to alice, carol;" in refused.text
        owners.write_text("[owners\n")  # a broken edit keeps the rules in effect
        assert post(server.url, build_wheel(tmp_path, "free-lib", "1.2.0"), auth=BOB).status_code == 403
    finally:
        server.kill()


def test_a_malformed_owners_file_stops_the_start_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "owners.toml").write_text('[owners]\n"team-*" = "alice"\n')
    for command, env in (
        (["-m", "helperhub", "registry", "serve", "--owners", str(tmp_path / "owners.toml")], {}),
        (["-m", "helperhub.registry"], {"HUB_REGISTRY_OWNERS": str(tmp_path / "owners.toml")}),
    ):
        proc = subprocess.run([sys.executable, *command, "--port", str(free_port()), "--packages",
                               str(tmp_path / "packages")], capture_output=True, text=True, timeout=60,
                              env={**os.environ, **env})
        assert proc.returncode != 0
        assert proc.stderr.strip().splitlines() == [
            f"Error: {tmp_path / 'owners.toml'}: owners of 'team-*' must be a list of user names, like [\"alice\"]"]


# -- recovery and the front ------------------------------------------------------------------------


def test_files_released_before_are_given_metadata_and_times_at_start(tmp_path: Path) -> None:
    packages = tmp_path / "reg" / "packages"
    packages.mkdir(parents=True)
    old = build_wheel(packages, "old-lib", "1.0.0", requires_python=">=3.10")
    sdist = build_sdist(packages, "old-lib", "1.0.0", requires_python=">=3.10")
    os.utime(old.path, (1767225600, 1767225600))  # 2026-01-01
    (packages / ".helperhub-sha256.json").write_text(json.dumps({old.name: old.sha256}))  # the older record
    (packages / ".metadata").mkdir()
    (packages / ".metadata" / "gone_lib-1.0-py3-none-any.whl.metadata").write_bytes(b"orphan")  # wheel never landed
    server = start(tmp_path / "reg")
    try:
        files = json_files(server.url, "old-lib")
        assert files[old.name]["upload-time"] == "2026-01-01T00:00:00.000000Z"  # its mtime
        assert files[old.name]["requires-python"] == files[sdist.name]["requires-python"] == ">=3.10"
        assert files[old.name]["core-metadata"] == {"sha256": hashlib.sha256(old.metadata).hexdigest()}
        assert requests.get(f"{server.url}/packages/{old.name}.metadata", timeout=10).content == old.metadata
        assert sorted(p.name for p in (packages / ".metadata").iterdir()) == [f"{old.name}.metadata"]
        record = json.loads((packages / ".helperhub-sha256.json").read_text())
        assert record[old.name]["upload_time"] == "2026-01-01T00:00:00.000000Z"  # the facts are durable now
        assert record[sdist.name]["sha256"] == sdist.sha256
    finally:
        server.kill()



@pytest.mark.slow
def test_the_front_serves_the_protocol_from_disk_with_the_registry_killed(
        readable_tmp: Path, tmp_path: Path) -> None:
    server = start(readable_tmp / "reg")
    app = build_wheel(tmp_path, "front-app", "1.0", requires=["front-lib"])
    lib = build_wheel(tmp_path, "front-lib", "1.0")
    for dist in (app, lib):
        assert post(server.url, dist).status_code == 200
    assert yank(server.url, "front-lib", "1.0", "use 2.0").status_code == 200
    listen = f"127.0.0.1:{free_port()}"
    front = start_front(FrontSettings(listen, server.packages, readable_tmp / "front", app=f"127.0.0.1:{server.port}"))
    try:
        server.kill()  # SIGKILL: what is on disk must be enough
        url = f"http://{listen}"
        resp = requests.get(f"{url}/simple/front-lib/", headers={"Accept": UV_ACCEPT}, timeout=10)
        assert resp.headers["Content-Type"] == JSON and resp.headers["Vary"] == "Accept"
        assert resp.content == (server.packages / ".simple" / "front-lib" / "index.json").read_bytes()
        assert resp.json()["files"][0]["yanked"] == "use 2.0"
        html = requests.get(f"{url}/simple/front-lib/", timeout=10)
        assert html.headers["Content-Type"] == "text/html; charset=utf-8" and 'data-yanked="use 2.0"' in html.text
        root = requests.get(f"{url}/simple/?format=application/vnd.pypi.simple.v1+json", timeout=10)
        assert root.headers["Content-Type"] == JSON and {"name": "front-app"} in root.json()["projects"]
        meta = requests.get(f"{url}/packages/{lib.name}.metadata", timeout=10)
        assert meta.status_code == 200 and meta.content == lib.metadata
        target = tmp_path / "target"
        run([sys.executable, "-m", "pip", "install", "--quiet", "--target", target, "--index-url", f"{url}/simple/",
             "front-app", "front-lib==1.0"], tmp_path)  # the yanked one by its pin, as a lock installs it
        assert (target / "front_app" / "__init__.py").read_text() == "VERSION = '1.0'\n"
        assert (target / "front_lib" / "__init__.py").exists()
    finally:
        front.terminate()
        front.wait(timeout=10)


@pytest.mark.slow
def test_reads_with_a_login_serve_the_protocol_too(tmp_path: Path) -> None:
    server = start(tmp_path / "reg", options=("--auth-reads",))
    try:
        dist = build_wheel(tmp_path, "private-lib", "1.0")
        assert post(server.url, dist).status_code == 200
        page = f"{server.url}/simple/private-lib/"
        assert requests.get(page, headers={"Accept": PIP_ACCEPT}, timeout=10).status_code == 401
        assert requests.get(f"{server.url}/packages/{dist.name}.metadata", timeout=10).status_code == 401
        resp = requests.get(page, headers={"Accept": PIP_ACCEPT}, auth=ALICE, timeout=10)
        assert resp.headers["Content-Type"] == JSON and resp.json()["files"][0]["filename"] == dist.name
        meta = requests.get(f"{server.url}/packages/{dist.name}.metadata", auth=BOB, timeout=10)
        assert meta.content == dist.metadata
    finally:
        server.kill()
