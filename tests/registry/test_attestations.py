"""A release's documents on the index: the attach form (owners only, immutable once stored) and
the read path beside each file and per target, against a real registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import requests

from helperhub.core.errors import ConfigError, RegistryError
from helperhub.registry.client import (
    IndexSettings,
    attach_on_index,
    fetch_document,
    project_files,
    provenance_url,
    sbom_url,
)
from helperhub.registry.server.attestations import served_path
from helperhub.release.publish import publish
from helperhub.stack.embedded import add_user
from tests.conftest import RunningIndex, missing
from tests.indexclients import build_wheel

ENVELOPE = json.dumps({"payload": "e30=", "payloadType": "application/vnd.in-toto+json", "signatures": []}).encode()
SBOM = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6"}).encode()


def test_served_paths_are_only_documents(tmp_path: Path) -> None:
    root = tmp_path
    assert served_path(root, "/packages/t-1.0-py3-none-any.whl.provenance.json") == (
        root / ".attestations/files/t-1.0-py3-none-any.whl.provenance.json")
    assert served_path(root, "/helpers/T_x/1.0/py313.cdx.json") == root / ".attestations/helpers/t-x/1.0/py313.cdx.json"
    for path in ("/packages/../x.whl.provenance.json", "/packages/.x.provenance.json", "/helpers/t/latest/a.cdx.json",
                 "/helpers/t/1.0/../a.cdx.json", "/helpers/t/1.0/x y.cdx.json", "/packages/t-1.0.whl", "/helpers/t/"):
        assert served_path(root, path) is None, path


def test_attach_and_read_back(fresh_index: RunningIndex, tmp_path: Path) -> None:
    index = fresh_index.settings
    publish(index, [build_wheel(tmp_path / "w", "attest-thing", "1.0.0").path])
    wheel = project_files(index, "attest-thing")["attest_thing-1.0.0-py3-none-any.whl"]
    assert fetch_document(index, provenance_url(wheel.url)) is None
    assert "stored" in attach_on_index(index, "attest-thing", "1.0.0", ENVELOPE, file=wheel.filename)
    assert "stored" in attach_on_index(index, "attest-thing", "1.0.0", SBOM, target="py313")
    # the same bytes again: accepted, nothing changes
    assert "unchanged" in attach_on_index(index, "attest-thing", "1.0.0", ENVELOPE, file=wheel.filename)
    assert fetch_document(index, provenance_url(wheel.url)) == ENVELOPE
    assert fetch_document(index, sbom_url(index, "attest-thing", "1.0.0", "py313")) == SBOM
    # a non-normalised version in the URL names the same release
    assert fetch_document(index, sbom_url(index, "Attest_Thing", "1.0", "py313")) == SBOM
    resp = requests.get(sbom_url(index, "attest-thing", "1.0.0", "py313"), timeout=5)
    assert resp.headers["Content-Type"] == "application/json" and resp.headers["ETag"]
    # other bytes for a stored document: refused, the first stays
    with pytest.raises(RegistryError, match=r"409.*never change"):
        attach_on_index(index, "attest-thing", "1.0.0", SBOM, file=wheel.filename)
    assert fetch_document(index, provenance_url(wheel.url)) == ENVELOPE
    # no such file / version / not JSON
    with pytest.raises(RegistryError, match=r"is not a file of attest-thing 1\.0\.0"):
        attach_on_index(index, "attest-thing", "1.0.0", ENVELOPE, file="attest_thing-1.0.0.tar.gz")
    with pytest.raises(RegistryError, match=r"has no version 2\.0"):
        attach_on_index(index, "attest-thing", "2.0", SBOM, target="py313")
    with pytest.raises(RegistryError, match="JSON object"):
        attach_on_index(index, "attest-thing", "1.0.0", b"[1]", target="py311")
    # only an owner may attach; without a login nobody
    add_user(fresh_index.packages.parent / "htpasswd", "bob", "b0b-pass")
    with pytest.raises(RegistryError, match="403"):
        attach_on_index(IndexSettings(index.url, "bob", "b0b-pass"), "attest-thing", "1.0.0", SBOM, target="py311")
    with pytest.raises(ConfigError, match="login is needed"):
        attach_on_index(IndexSettings(index.url), "attest-thing", "1.0.0", SBOM, target="py311")
    assert fetch_document(index, sbom_url(index, "attest-thing", "1.0.0", "py311")) is None
    stored = sorted(p.relative_to(fresh_index.packages / ".attestations").as_posix()
                    for p in (fresh_index.packages / ".attestations").rglob("*") if p.is_file())
    assert stored == ["files/attest_thing-1.0.0-py3-none-any.whl.provenance.json",
                      "helpers/attest-thing/1.0.0/py313.cdx.json"]


def test_the_nginx_front_serves_them_from_disk_and_falls_back_to_the_registry(
    fresh_index: RunningIndex, tmp_path: Path
) -> None:
    from helperhub.stack.front import FrontSettings, start_front
    from tests.conftest import free_port

    if shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists():
        missing("nginx is not installed", "run `make test-tools`")
    index = fresh_index.settings
    publish(index, [build_wheel(tmp_path / "w", "front-thing", "1.0.0").path])
    wheel = "front_thing-1.0.0-py3-none-any.whl"
    attach_on_index(index, "front-thing", "1.0.0", ENVELOPE, file=wheel)
    attach_on_index(index, "front-thing", "1.0.0", SBOM, target="default")
    listen = f"127.0.0.1:{free_port()}"
    proc = start_front(FrontSettings(listen, fresh_index.packages, tmp_path / "front", app=index.url.split("//")[1]))
    try:
        front = IndexSettings(f"http://{listen}")
        assert fetch_document(front, f"http://{listen}/packages/{wheel}.provenance.json") == ENVELOPE
        assert fetch_document(front, sbom_url(front, "front-thing", "1.0.0", "default")) == SBOM
        assert fetch_document(front, sbom_url(front, "front-thing", "1.0", "default")) == SBOM  # from the registry
        assert fetch_document(front, sbom_url(front, "front-thing", "1.0.0", "py313")) is None
    finally:
        proc.terminate()
        proc.wait(timeout=10)
