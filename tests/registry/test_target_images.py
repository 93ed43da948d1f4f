"""The index's image records per version and target: durable, read from a notes file written before
targets, shown by the catalog per target; a real registry takes the target from the form (none:
``default``, as older clients post it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from packaging.version import Version

from helperhub.registry.client import IndexSettings, record_image_on_index
from helperhub.registry.server.catalog.data import build_entry
from helperhub.registry.server.catalog.model import HelperEntry, HelperVersion
from helperhub.registry.server.catalog.pages import render_helper, render_version
from helperhub.registry.server.metadata import FileFacts
from helperhub.registry.server.notes import IMAGES, ImageRefs, check_target_name
from helperhub.registry.server.validate import UploadRefused
from tests.catalog_site import password, upload, write_sdist, write_wheel
from tests.sidebyside import Server

WHEN = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DEFAULT = "registry.example:5000/lib@sha256:" + "ab" * 32
PY313 = "registry.example:5000/lib@sha256:" + "cd" * 32
ALICE = "alice"


def test_a_notes_file_from_before_targets_reads_as_the_default_target(tmp_path: Path) -> None:
    (tmp_path / IMAGES).write_text(json.dumps({"lib": {"1.0.0": DEFAULT, "1.1": PY313}, "other": "junk"}))
    refs = ImageRefs(tmp_path)
    assert refs.all() == {"lib": {"1.0.0": {"default": DEFAULT}, "1.1": {"default": PY313}}}
    # a target added to a version spelt otherwise keeps the version's other targets, under the new spelling
    assert refs.set("lib", Version("1.1.0"), DEFAULT, "py313") == {
        "1.0.0": {"default": DEFAULT}, "1.1.0": {"default": PY313, "py313": DEFAULT}}
    assert refs.set("lib", Version("1.0"), PY313, "py313")["1.0"] == {"default": DEFAULT, "py313": PY313}
    again = ImageRefs(tmp_path)
    assert again.all() == refs.all() == {
        "lib": {"1.0": {"default": DEFAULT, "py313": PY313}, "1.1.0": {"default": PY313, "py313": DEFAULT}}}
    assert json.loads((tmp_path / IMAGES).read_text())["lib"]["1.0"] == {"default": DEFAULT, "py313": PY313}
    assert again.of("nothing") == {}


@pytest.mark.parametrize("name", ["", "Py313", "py 313", "-py", "x" * 65, "py313/../x", "<b>"])
def test_other_target_names_are_refused(name: str) -> None:
    with pytest.raises(UploadRefused, match="is not a target name; give one like py313"):
        check_target_name(name)


def test_targets_are_taken_as_declared() -> None:
    assert check_target_name(" py313 ") == "py313" and check_target_name("gpu_cuda-12") == "gpu_cuda-12"


def facts(name: str) -> FileFacts:
    return FileFacts(name, "0" * 64, 10, "2026-03-01T12:00:00+00:00", None)


def test_the_catalog_lists_each_target_of_a_version_with_its_image() -> None:
    entry = build_entry("lib", [facts("lib-1.0.0.tar.gz"), facts("lib-1.1.0.tar.gz"), facts("lib-1.2.0.tar.gz")],
                        lambda _: None,
                        images={"1.0.0": DEFAULT, "1.1.0": {"default": DEFAULT},
                                "1.2.0": {"py313": PY313, "default": DEFAULT}})
    assert entry is not None
    newest, middle, oldest = entry.versions
    assert newest.images == (("default", DEFAULT), ("py313", PY313)) and newest.image == DEFAULT
    assert middle.images == oldest.images == (("default", DEFAULT),)
    section = render_version(newest)
    assert "<dt>Images (2 targets)</dt>" in section
    assert (f'<li><span class="target">default</span> <code class="hash">{DEFAULT}</code></li>\n'
            f'<li><span class="target">py313</span> <code class="hash">{PY313}</code></li>\n') in section
    # one image of the target default: as before targets
    assert f'<dt>Image</dt>\n<dd><code class="hash">{DEFAULT}</code></dd>' in render_version(middle)
    assert render_version(middle) == render_version(HelperVersion(middle.version, middle.released, image=DEFAULT,
                                                                  files=middle.files))
    only313 = HelperVersion("2.0.0", WHEN, images=(("py313", PY313),))
    assert only313.image == PY313 and '<span class="target">py313</span>' in render_version(only313)
    assert "<dt>Image" not in render_version(HelperVersion("2.0.0", WHEN))
    page = render_helper(HelperEntry("lib", "lib", (newest,)), "http://pypi.example.org:8080")
    assert page.count('<span class="target">') == 2


# -- a real registry -----------------------------------------------------------------------------


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Server]:
    server = Server("helperhub", tmp_path / "hub", users=((ALICE, password(ALICE)),)).start()
    yield server
    server.kill()


def test_a_release_records_an_image_per_target(hub: Server, tmp_path: Path) -> None:
    metadata = b"Metadata-Version: 2.1\nName: lib\nVersion: 1.0.0\nSummary: s\n\n"
    upload(hub.url, ALICE, write_wheel(tmp_path, "lib", "1.0.0", metadata))
    upload(hub.url, ALICE, write_sdist(tmp_path, "lib", "1.0.0", metadata))
    alice = IndexSettings(hub.url, ALICE, password(ALICE))
    assert record_image_on_index(alice, "lib", "1.0.0", DEFAULT) == f"lib 1.0.0 image {DEFAULT}"  # as before
    assert record_image_on_index(alice, "lib", "1.0", PY313, target="py313") == (
        f"lib 1.0.0 image {PY313} (target py313)")
    page = requests.get(f"{hub.url}/helpers/lib/", timeout=10).text
    assert f'<li><span class="target">py313</span> <code class="hash">{PY313}</code></li>' in page
    assert f'<li><span class="target">default</span> <code class="hash">{DEFAULT}</code></li>' in page
    assert json.loads((hub.packages / IMAGES).read_text()) == {"lib": {"1.0.0": {"default": DEFAULT,
                                                                                 "py313": PY313}}}
    form = {":action": (None, "set_image"), "name": (None, "lib"), "version": (None, "1.0.0"),
            "image": (None, PY313), "target": (None, "Py 3.13")}
    refused = requests.post(f"{hub.url}/", files=form, auth=(ALICE, password(ALICE)), timeout=10)
    assert refused.status_code == 400 and "is not a target name" in refused.text
