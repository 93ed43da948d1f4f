"""Retention's images: the plan names the image manifests of deleted versions that no kept release
and no registered lock references; `registry gc --apply` deletes them by digest (with their
attached SBOMs) in a real OCI registry, finishes an interrupted run, and `registry oci-gc` frees
their layers with the registry read-only meanwhile. A real index, a real docker-registry."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from helperhub.cli import cli
from helperhub.core.errors import EngineError
from helperhub.images import registry_api
from helperhub.images.deletes import delete_manifest
from helperhub.images.oci import registry_answers
from helperhub.images.referrers import SBOM_ARTIFACT, TITLE, attach, referrers
from helperhub.registry.client import record_release_on_index
from helperhub.registry.retention_client import register_references
from helperhub.registry.server.tombstones import AUDIT, IMAGES_GONE
from helperhub.stack.background import stop_background
from helperhub.stack.oci_registry import (
    PIDFILE,
    ensure_oci_registry,
    read_only_config,
    registry_config,
    storage_bytes,
)
from tests.catalog_site import password, write_wheel
from tests.conftest import free_port
from tests.registry.test_retention import ALICE, BOB, CAROL, login, retention_server
from tests.sidebyside import Server

VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.3.0")  # 1.3.0 new, the others 100 days old
OLD = 100 * 86400


@dataclass(frozen=True)
class Image:
    ref: str  # repo@sha256 of the index
    platforms: dict[str, str]

    def refs(self) -> set[str]:
        repo = self.ref.split("@")[0]
        return {self.ref, *(f"{repo}@{d}" for d in self.platforms.values())}


def rootfs(seed: str) -> io.BytesIO:
    """A tiny root filesystem whose one file is incompressible, so its layer is its own blob."""
    data, out = os.urandom(48 << 10) + seed.encode(), io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo("data.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def push_image(oci: str, version: str) -> Image:
    """alpha's two-platform image of ``version`` with an SBOM attached, as a release pushes it."""
    repo = f"{oci}/helpers/alpha"
    digests = {f"linux/{arch}": registry_api.push_rootfs(f"{repo}:{version}-{arch}", arch, rootfs(version + arch))
               for arch in ("amd64", "arm64")}
    index = registry_api.index(f"{repo}:{version}", [f"{repo}:{version}-{a}" for a in ("amd64", "arm64")])
    attach(repo, index, SBOM_ARTIFACT, b'{"bomFormat": "CycloneDX"}', "application/vnd.cyclonedx+json",
           {TITLE: "sbom.cdx.json"})
    return Image(f"{repo}@{index}", digests)


def exists(ref: str) -> bool:
    return registry_api.get_manifest(ref) is not None


def test_the_local_registry_config_allows_deletes_on_loopback_only_and_has_a_read_only_twin() -> None:
    assert registry_config("127.0.0.1:5000", Path("/s")) == (
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /s\n  delete:\n    enabled: true\n"
        "http:\n  addr: 127.0.0.1:5000\n")
    assert "enabled: false" in registry_config("0.0.0.0:5000", Path("/s"))
    assert "enabled: false" in registry_config("127.0.0.1:5000", Path("/s"), delete=False)
    assert read_only_config(registry_config("127.0.0.1:5000", Path("/s"))) == (
        "version: 0.1\nstorage:\n  maintenance:\n    readonly:\n      enabled: true\n"
        "  filesystem:\n    rootdirectory: /s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:5000\n")
    with pytest.raises(EngineError, match="no storage: section"):
        read_only_config("version: 0.1\n")


@pytest.fixture
def oci(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local OCI registry started as `make engine` starts one: deletes allowed, loopback, pidfile."""
    addr, state = f"127.0.0.1:{free_port()}", tmp_path / "oci-state"
    if not ensure_oci_registry(addr, state):
        pytest.fail("docker-registry is not installed (make engine installs it)")
    yield addr, state
    stop_background(state / PIDFILE)


def start_index(tmp: Path) -> Server:
    packages = tmp / "packages"
    packages.mkdir(parents=True)
    old = time.time() - OLD
    for version in VERSIONS:
        meta = f"Metadata-Version: 2.1\nName: alpha\nVersion: {version}\n".encode()
        path = write_wheel(packages, "alpha", version, meta)
        if version != VERSIONS[-1]:
            os.utime(path, (old, old))
    return retention_server(tmp)


def gc(server: Server, oci: str, *more: str) -> dict[str, Any]:
    args = ["registry", "gc", "--json", "--index-url", server.url, "--user", CAROL, "--oci-registry", oci, *more]
    out = CliRunner().invoke(cli, args, env={"HUB_INDEX_PASSWORD": password(CAROL)})
    assert out.exit_code == 0, out.output
    plan: dict[str, Any] = json.loads(out.output)
    return plan


def refs_of(items: list[dict[str, str]]) -> set[str]:
    return {i["ref"] for i in items}


def test_gc_deletes_the_images_of_deleted_versions_by_digest(tmp_path: Path, oci: tuple[str, Path]) -> None:
    addr, state = oci
    server = start_index(tmp_path)
    try:
        images = {v: push_image(addr, v) for v in VERSIONS}
        for version, image in images.items():
            pin = {"version": version, "wheel": f"alpha-{version}-py3-none-any.whl",
                   "targets": {"default": {"image": {"ref": image.ref, "platforms": image.platforms}}}}
            record_release_on_index(login(server, ALICE), "alpha", version, {"pin": pin, "mirrored": []})
        # team-b's lock pins 1.0.0's arm64 manifest only: that manifest is kept, the rest of 1.0.0 goes
        kept_arm = f"{images['1.0.0'].ref.split('@')[0]}@{images['1.0.0'].platforms['linux/arm64']}"
        register_references(login(server, BOB), "team-b", {"images": [kept_arm]})
        plan = gc(server, addr)
        planned = (images["1.0.0"].refs() | images["1.1.0"].refs()) - {kept_arm}
        assert refs_of(plan["images"]) == planned and plan["applied"] is False
        assert all(exists(r) for v in VERSIONS for r in images[v].refs())  # a dry run deletes nothing
        why = {str(i["ref"]): str(i["reason"]) for i in plan["images"]}
        assert why[images["1.1.0"].ref].startswith("image of alpha 1.1.0, which is deleted")

        # an apply whose OCI registry is another one leaves the images pending on the index
        elsewhere = gc(server, "127.0.0.1:1", "--apply")
        assert refs_of(elsewhere["images_pending"]) == planned and set(elsewhere["images_elsewhere"]) == planned
        assert all(exists(r) for r in planned)
        assert set(json.loads((tmp_path / "packages" / IMAGES_GONE).read_text())) == planned
        # the next run, at the right registry, finishes them although the index's plan is empty now
        done = gc(server, addr, "--apply")
        assert done["images"] == [] and set(done["images_deleted"]) == planned
        assert not any(exists(r) for r in planned)
        assert all(exists(r) for v in ("1.2.0", "1.3.0") for r in images[v].refs()) and exists(kept_arm)
        repo = images["1.1.0"].ref.split("@")[0]
        assert referrers(repo, images["1.1.0"].ref.split("@")[1]) == []  # its SBOM went with it
        assert len(referrers(repo, images["1.3.0"].ref.split("@")[1])) == 1
        assert not exists(f"{repo}:1.1.0")  # and its tag
        assert json.loads((tmp_path / "packages" / IMAGES_GONE).read_text()) == {}
        audit = [json.loads(line) for line in (tmp_path / "packages" / AUDIT).read_text().splitlines()]
        assert {a["image"] for a in audit if "image" in a} == planned
        assert gc(server, addr)["images_pending"] == []

        # the layers only the deleted manifests used go at the registry's garbage collection
        before = storage_bytes(state / "oci")
        out = CliRunner().invoke(cli, ["registry", "oci-gc", "--state", str(state), "--oci-registry", addr])
        assert out.exit_code == 0, out.output
        freed = before - storage_bytes(state / "oci")
        assert freed >= 3 * (48 << 10) and f"({freed} freed)" in out.output  # 1.1.0's two layers, 1.0.0's amd64
        for kept in (images["1.3.0"], images["1.2.0"]):  # the kept images' layers are all still there
            for digest in kept.platforms.values():
                found = registry_api.get_manifest(f"{kept.ref.split('@')[0]}@{digest}")
                assert found is not None
                layer = json.loads(found[1])["layers"][0]["digest"]
                assert len(registry_api.get_blob(addr, "helpers/alpha", layer)) > 48 << 10
        push_image(addr, "1.4.0")  # writable again afterwards
    finally:
        server.kill()


def test_a_registry_without_deletes_is_named_in_one_line(tmp_path: Path) -> None:
    addr, state = f"127.0.0.1:{free_port()}", tmp_path / "state"
    state.mkdir()
    (state / "oci-registry.yml").write_text(registry_config(addr, state / "oci", delete=False))
    proc = subprocess.Popen(["docker-registry", "serve", str(state / "oci-registry.yml")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not registry_answers(addr):
            assert time.monotonic() < deadline and proc.poll() is None, "docker-registry did not start"
            time.sleep(0.1)
        image = push_image(addr, "1.0.0")
        with pytest.raises(EngineError, match=r"does not allow deletes; set storage\.delete\.enabled") as caught:
            delete_manifest(image.ref)
        assert "\n" not in str(caught.value) and exists(image.ref)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

