"""A start answers reads at once and catches up in the background; a restart rewrites only the
pages whose inputs changed. Real registry processes on generated folders of many projects."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import requests

from helperhub.registry.server.catalog.cache import CATALOG_DIR
from helperhub.registry.server.recovery import RECORD, TEMP_PREFIX
from helperhub.registry.server.simple.pages import PAGES_DIR

from ..sidebyside import Server, make_wheel

PROJECTS = 3000  # enough that a first start is still catching up when the first reads arrive


def fill(packages: Path, projects: int, versions: int = 1) -> dict[str, str]:
    """``projects`` one-wheel projects (``versions`` wheels each) written straight into a folder the
    registry has never seen; file name -> sha256."""
    packages.mkdir(parents=True, exist_ok=True)
    written = {}
    for i in range(projects):
        for v in range(versions):
            name, data = make_wheel(f"gen{i:05d}", f"1.0.{v}")
            (packages / name).write_bytes(data)
            written[name] = hashlib.sha256(data).hexdigest()
    return written


def health(server: Server) -> dict[str, object]:
    answer = requests.get(f"{server.url}/health", timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json"
    return dict(answer.json())


def wait_caught_up(server: Server, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not health(server)["writes"]:
        assert time.monotonic() < deadline, f"still catching up after {timeout} s: {health(server)}"
        time.sleep(0.1)


def pages_on_disk(packages: Path) -> dict[str, int]:
    """Every rendered page (simple and catalog) with its mtime in ns."""
    return {str(p.relative_to(packages)): p.stat().st_mtime_ns
            for folder in (PAGES_DIR, CATALOG_DIR) for p in (packages / folder).rglob("index.*")}


@pytest.fixture
def never_seen(tmp_path: Path) -> tuple[Server, dict[str, str]]:
    server = Server("helperhub", tmp_path)
    return server, fill(server.packages, PROJECTS)


def test_a_first_start_answers_reads_while_it_catches_up(never_seen: tuple[Server, dict[str, str]]) -> None:
    server, written = never_seen
    server.start(until="reads")
    try:
        first = health(server)
        assert first["reads"] is True
        last = sorted(written)[-1]  # the catch-up goes in name order: this project comes last
        if not first["writes"]:
            progress = first["catching_up"]
            assert isinstance(progress, dict) and 0 <= progress["done"] <= progress["total"]
            upload = requests.post(f"{server.url}/", auth=("ci", "ci-password"), timeout=10,
                                   files={"content": ("late-1.0-py3-none-any.whl", b"x")},
                                   data={":action": "file_upload"})
            if not health(server)["writes"]:
                assert upload.status_code in (401, 503)
                if upload.status_code == 503:
                    assert upload.headers["Retry-After"] and "catching up" in upload.text
        # a page, a file and a metadata file of a project the catch-up may not have reached
        assert server.listed("gen02999") == {last: written[last]}
        served = requests.get(f"{server.url}/packages/{last}", timeout=10)
        assert hashlib.sha256(served.content).hexdigest() == written[last]
        meta = requests.get(f"{server.url}/packages/{last}.metadata", timeout=10)
        assert meta.status_code == 200 and b"Name: gen02999" in meta.content
        root = requests.get(f"{server.url}/simple/", timeout=10,
                            headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        assert len(root.json()["projects"]) == PROJECTS
        wait_caught_up(server)
        assert health(server) == {"reads": True, "writes": True}
        assert set(json.loads((server.packages / RECORD).read_text())) == set(written)
    finally:
        server.stop()


def test_a_restart_rewrites_no_unchanged_page(never_seen: tuple[Server, dict[str, str]]) -> None:
    server, _ = never_seen
    server.start()
    server.stop()
    before = pages_on_disk(server.packages)
    assert len([p for p in before if p.startswith(PAGES_DIR)]) == 2 * PROJECTS + 2  # both formats, and /simple/
    name, data = make_wheel("gen00007", "2.0.0")
    (server.packages / name).write_bytes(data)  # a file put in by hand while it was down
    server.start()
    try:
        after = pages_on_disk(server.packages)
        changed = {p for p in after if after[p] != before.get(p)}
        # the project that changed and the catalog's mirror list (which shows its versions); not
        # /simple/ (the same projects)
        assert changed == {f"{PAGES_DIR}/gen00007/index.html", f"{PAGES_DIR}/gen00007/index.json",
                           f"{CATALOG_DIR}/index.html"}
        assert server.listed("gen00007")[name] == hashlib.sha256(data).hexdigest()
    finally:
        server.stop()


def test_kill_during_catch_up_loses_nothing(never_seen: tuple[Server, dict[str, str]]) -> None:
    server, written = never_seen
    server.start(until="reads")
    deadline = time.monotonic() + 60
    while (state := health(server))["writes"] is False and state["catching_up"]["done"] < 100:  # type: ignore[index]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    server.kill()  # kill -9 part-way
    assert sorted(p.name for p in server.packages.iterdir() if not p.name.startswith(".")) == sorted(written)
    server.start()
    try:
        assert not list(server.packages.glob(f"{TEMP_PREFIX}*"))
        for name in (sorted(written)[0], sorted(written)[PROJECTS // 2], sorted(written)[-1]):
            project = name.split("-")[0].replace("_", "-")
            assert server.listed(project) == {name: written[name]}
        recorded = json.loads((server.packages / RECORD).read_text())
        assert {n: e["sha256"] for n, e in recorded.items()} == written
    finally:
        server.stop()
