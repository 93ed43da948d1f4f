"""What makes a project a helper: a release's record on the index (or a plain upload by an owner),
never a guess from file types; mirrored files are marked by the records; a registry that ran
before records keeps its third-party projects third-party. Real registry processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from helperhub.core.errors import RegistryError
from helperhub.pipelines.catalog import list_helpers
from helperhub.registry.client import IndexSettings, index_helpers, record_mirror_on_index, record_release_on_index
from tests.catalog_site import password, upload, write_sdist, write_wheel
from tests.sidebyside import Server

ALICE, BOB = "alice", "bob"


def metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {name} things\n".encode()


def start(tmp: Path) -> Server:
    return Server("helperhub", tmp, users=((ALICE, password(ALICE)), (BOB, password(BOB)))).start()


def login(server: Server, user: str) -> IndexSettings:
    return IndexSettings(server.url, user, password(user))


def test_a_wheel_only_helper_is_a_helper_and_a_mirrored_dependency_is_not(tmp_path: Path) -> None:
    server = start(tmp_path / "reg")
    try:
        upload(server.url, ALICE, write_wheel(tmp_path, "wheel-only", "1.0.0", metadata("wheel-only", "1.0.0")))
        upload(server.url, ALICE, write_wheel(tmp_path, "dep-lib", "2.0.0", metadata("dep-lib", "2.0.0")))
        settings = login(server, ALICE)
        assert index_helpers(settings) == {"wheel-only", "dep-lib"}  # plain uploads by their owner
        record = {"pin": {"version": "1.0.0", "wheel": "wheel_only-1.0.0-py3-none-any.whl"},
                  "mirrored": ["dep_lib-2.0.0-py3-none-any.whl"]}
        assert record_release_on_index(settings, "wheel-only", "1.0.0", record) == "wheel-only 1.0.0 recorded"
        assert record_release_on_index(settings, "wheel-only", "1.0.0", record) == (
            "wheel-only 1.0.0 already recorded")
        assert index_helpers(settings) == {"wheel-only"}
        assert [row.name for row in list_helpers(settings)] == ["wheel-only"]  # `helpers list`: the same rule
        page = requests.get(f"{server.url}/helpers/wheel-only/", timeout=10)
        assert page.status_code == 200 and "wheel-only things" in page.text
        dep = requests.get(f"{server.url}/helpers/dep-lib/", timeout=10)
        assert dep.status_code == 200 and "wheel-only 1.0.0" in dep.text and "Third-party" in dep.text
        served = requests.get(f"{server.url}/helpers/wheel-only/1.0.0/release.json", timeout=10).json()
        assert served["pin"]["version"] == "1.0.0" and served["mirrored"] == ["dep_lib-2.0.0-py3-none-any.whl"]
        with pytest.raises(RegistryError, match="wheel-only belongs to alice"):
            record_release_on_index(login(server, BOB), "wheel-only", "1.0.0", record)
        with pytest.raises(RegistryError, match=r"has no version 9\.9"):
            record_release_on_index(settings, "wheel-only", "9.9", record)
        bad = requests.post(f"{server.url}/", auth=(ALICE, password(ALICE)), timeout=10, files={
            ":action": (None, "record_release"), "name": (None, "wheel-only"), "version": (None, "1.0.0"),
            "record": (None, "{not json")})
        assert bad.status_code == 400 and "not JSON" in bad.text
        server.stop()
        server.start()  # the records are read again at start
        assert index_helpers(settings) == {"wheel-only"}
    finally:
        server.kill()


def test_a_registry_from_before_records_keeps_its_third_party_projects(tmp_path: Path) -> None:
    packages = tmp_path / "reg" / "packages"
    packages.mkdir(parents=True)
    for name, sdist in (("old-helper", True), ("numpy-like", False)):
        write_wheel(packages, name, "1.0.0", metadata(name, "1.0.0"))
        if sdist:
            write_sdist(packages, name, "1.0.0", metadata(name, "1.0.0"))
    # files copied in have no owner: an admin adds to them
    server = Server("helperhub", tmp_path / "reg", users=((ALICE, password(ALICE)), (BOB, password(BOB))),
                    options=("--admin", ALICE)).start()
    try:
        settings = login(server, ALICE)
        assert index_helpers(settings) == {"old-helper"}  # migrated: a helper had an sdist
        upload(server.url, ALICE, write_wheel(tmp_path, "numpy-like", "1.1.0", metadata("numpy-like", "1.1.0")))
        assert index_helpers(settings) == {"old-helper"}  # still third-party, as it was
        migrated = json.loads((packages / ".releases" / ".third-party.json").read_text())
        assert migrated == ["numpy-like"]
    finally:
        server.kill()


def test_files_mirrored_for_an_environment_are_third_party_and_only_their_owner_says_so(tmp_path: Path) -> None:
    server = start(tmp_path / "reg")
    try:
        upload(server.url, ALICE, write_wheel(tmp_path, "extra-lib", "1.0.0", metadata("extra-lib", "1.0.0")))
        upload(server.url, BOB, write_wheel(tmp_path, "bobs-helpers", "1.0.0", metadata("bobs-helpers", "1.0.0")))
        alice = login(server, ALICE)
        assert index_helpers(alice) == {"extra-lib", "bobs-helpers"}  # plain uploads by their owners
        with pytest.raises(RegistryError, match="bobs-helpers belongs to bob"):  # nobody turns another's helper
            record_mirror_on_index(alice, ["bobs_helpers-1.0.0-py3-none-any.whl"])
        with pytest.raises(RegistryError, match="has no version 9"):
            record_mirror_on_index(alice, ["extra_lib-9.0-py3-none-any.whl"])
        answer = record_mirror_on_index(alice, ["extra_lib-1.0.0-py3-none-any.whl"])
        assert answer == "1 files recorded as mirrored"
        assert index_helpers(alice) == {"bobs-helpers"}
        server.stop()
        server.start()  # remembered across a restart
        assert index_helpers(alice) == {"bobs-helpers"}
    finally:
        server.kill()
