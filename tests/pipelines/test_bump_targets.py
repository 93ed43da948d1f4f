"""`pins bump` discovers a released version's targets in a real OCI registry, as a consumer
repository sees it: the plain tag is the target ``default`` (an image from before targets, no
target labels), ``<version>-py313`` a multi-platform image index whose labels say what runs there.
Each target's closure is resolved per platform from a real index; `pins check` then verifies the
closures and every image by digest, and `helpers show` lists the targets.

The images are pushed through the registry API: small manifests whose labels are what a release
writes (the layers do not matter to a bump)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
import requests

from helperhub.core import defaults
from helperhub.core.errors import IntegrityError, LockError
from helperhub.images.target_context import target_closure_sha256
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import Lock, load_lock, save_lock
from helperhub.pipelines.catalog import show_helper
from helperhub.pipelines.image_targets import candidate_tags
from helperhub.pipelines.pins import bump_pin, check_pins, pins_rows
from helperhub.registry.client import IndexSettings
from tests.conftest import RunningIndex
from tests.indexclients import Dist, build_sdist, build_wheel

AMD, ARM = "linux/amd64", "linux/arm64"
KFP = "9.9.9"  # a stand-in kfp (no dependencies): resolving it takes no mirror
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
NAME = "tgt-helpers"


def publish(index: RunningIndex, dist: Dist) -> None:
    resp = requests.post(index.settings.upload_url, data={":action": "file_upload", "protocol_version": "1"},
                         files={"content": (dist.name, dist.path.read_bytes())},
                         auth=(index.settings.username or "", index.settings.password or ""), timeout=60)
    assert resp.status_code == 200, resp.text


def push_blob(registry: str, repo: str, data: bytes) -> tuple[str, int]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = requests.post(f"http://{registry}/v2/{repo}/blobs/uploads/", timeout=10)
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    location = location if location.startswith("http") else f"http://{registry}{location}"
    sep = "&" if "?" in location else "?"
    done = requests.put(f"{location}{sep}digest={digest}", data=data,
                        headers={"Content-Type": "application/octet-stream"}, timeout=10)
    assert done.status_code == 201, done.text
    return digest, len(data)


def put_manifest(registry: str, repo: str, reference: str, body: dict[str, object], media_type: str) -> str:
    data = json.dumps(body).encode()
    resp = requests.put(f"http://{registry}/v2/{repo}/manifests/{reference}", data=data,
                        headers={"Content-Type": media_type}, timeout=10)
    assert resp.status_code == 201, resp.text
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_image(registry: str, repo: str, platform: str, labels: dict[str, str], *tags: str) -> str:
    """A one-platform image whose config carries ``labels``, tagged ``tags``; its manifest digest."""
    os_name, arch = platform.split("/")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w"):
        pass
    layer = push_blob(registry, repo, gzip.compress(buf.getvalue(), mtime=0))
    config = push_blob(registry, repo, json.dumps({
        "architecture": arch, "os": os_name, "config": {"Labels": labels},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(buf.getvalue()).hexdigest()]},
    }).encode())
    body = {"schemaVersion": 2, "mediaType": MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config[0], "size": config[1]},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer[0],
                        "size": layer[1]}]}
    digest = put_manifest(registry, repo, "latest-build", body, MANIFEST)
    for tag in tags:
        put_manifest(registry, repo, tag, body, MANIFEST)
    return digest


def push_index(registry: str, repo: str, platforms: dict[str, str], tag: str) -> str:
    entries = []
    for platform, digest in platforms.items():
        size = len(requests.get(f"http://{registry}/v2/{repo}/manifests/{digest}",
                                headers={"Accept": MANIFEST}, timeout=10).content)
        os_name, arch = platform.split("/")
        entries.append({"mediaType": MANIFEST, "digest": digest, "size": size,
                        "platform": {"os": os_name, "architecture": arch}})
    entries.append({"mediaType": MANIFEST, "digest": next(iter(platforms.values())), "size": 1,  # an attestation
                    "platform": {"os": "unknown", "architecture": "unknown"}})
    return put_manifest(registry, repo, tag, {"schemaVersion": 2, "mediaType": INDEX, "manifests": entries}, INDEX)


def helper_labels(wheel: Dist, version: str, closure: tuple[LockedFile, ...], platforms: tuple[str, ...] = (AMD,),
                  **target: str) -> dict[str, str]:
    """What the release labels an image with: its closures are every platform's of the target."""
    closures = target_closure_sha256(dict.fromkeys(platforms, closure))
    labels = {"io.helperhub.package": NAME, "io.helperhub.version": version, "io.helperhub.wheel-sha256": wheel.sha256,
              "io.helperhub.kfp-version": KFP, "io.helperhub.closure-sha256": closures,
              "org.opencontainers.image.revision": "f" * 40,
              "org.opencontainers.image.base.name": "127.0.0.1:5000/python@sha256:" + "1" * 64}
    return {**labels, **{f"io.helperhub.{k}": v for k, v in target.items()}}


def test_candidate_tags_leave_out_platform_tags_and_other_versions() -> None:
    tags = ["1.0.0", "1.0.0-py313", "1.0.0-py313-amd64", "1.0.0-py313-arm64", "1.0.01", "1.0.0.post1", "0.9.0",
            "1.0.0-py311-amd64", "1.0.0-Bad"]
    assert candidate_tags(tags, "1.0.0") == {"default": "1.0.0", "py311-amd64": "1.0.0-py311-amd64",
                                             "py313": "1.0.0-py313"}


def test_bump_pins_every_target_the_oci_registry_has(fresh_index: RunningIndex, oci: str, tmp_path: Path) -> None:
    dists = tmp_path / "dists"
    kfp, dep = build_wheel(dists, "kfp", KFP), build_wheel(dists, "tiny-dep", "1.0")
    wheel = build_wheel(dists, NAME, "1.0.0", requires=["tiny-dep>=1", f"kfp=={KFP}"])
    for dist in (kfp, dep, wheel, build_sdist(dists, NAME, "1.0.0")):
        publish(fresh_index, dist)
    closure = tuple(sorted(LockedFile(n, d.path.name.split("-")[1], d.name, d.sha256)
                           for n, d in (("kfp", kfp), ("tiny-dep", dep))))
    repo = f"{NAME}"
    plain = push_image(oci, repo, AMD, helper_labels(wheel, "1.0.0", closure), "1.0.0")
    py313 = {p: push_image(oci, repo, p, helper_labels(wheel, "1.0.0", closure, (AMD, ARM), target="py313",
                                                       python="3.13", implementation="cp", glibc="2.41"),
                           f"1.0.0-py313-{p.split('/')[1]}") for p in (AMD, ARM)}
    index_digest = push_index(oci, repo, py313, "1.0.0-py313")
    # neither is a target of 1.0.0: another version's image, and a tag whose image names another target
    push_image(oci, repo, AMD, helper_labels(wheel, "0.9.0", closure), "0.9.0")
    push_image(oci, repo, AMD, helper_labels(wheel, "1.0.0", closure, target="gpu", python="3.13",
                                             implementation="cp", glibc="2.41"), "1.0.0-rogue")

    lock_path = tmp_path / "pins.json"
    served_uv = build_wheel(dists, "uv", defaults.UV_VERSION)
    publish(fresh_index, served_uv)
    uv = LockedFile("uv", defaults.UV_VERSION, served_uv.name, served_uv.sha256)  # pinned: a bump keeps it
    save_lock(lock_path, Lock().with_tool(uv, AMD).with_tool(uv, ARM))
    pin = bump_pin(lock_path, NAME, "1.0.0", fresh_index.settings, oci, {NAME}, KFP).pin

    assert list(pin.targets) == ["default", "py313"] and pin.default_target == "default"
    default, target = pin.targets["default"], pin.targets["py313"]
    assert (default.python, default.implementation, default.glibc) == ("3.11", "cp", (2, 36))  # no labels: TARGET_*
    assert (target.python, target.implementation, target.glibc) == ("3.13", "cp", (2, 41))  # from its labels
    assert default.closure == {AMD: closure} and target.closure == {AMD: closure, ARM: closure}
    assert default.image is not None and target.image is not None
    assert (default.image.ref, default.image.platforms) == (f"{oci}/{repo}@{plain}", {})
    assert (target.image.ref, target.image.tag) == (f"{oci}/{repo}@{index_digest}", f"{oci}/{repo}:1.0.0-py313")
    assert target.image.platforms == py313  # each platform's manifest, not the attestation
    assert pin.commit == "f" * 40 and load_lock(lock_path).require(NAME, fix="-") == pin
    assert pins_rows(load_lock(lock_path))[1][3:6] == ("py313", "3.13 (cp, glibc 2.41)", "amd64, arm64")

    assert check_pins(load_lock(lock_path), download=True) == []
    wrong = replace(target.image, platforms={**py313, ARM: plain})
    broken = replace(pin, targets={**pin.targets, "py313": replace(target, image=wrong)})
    assert [p.message for p in check_pins(Lock({NAME: broken}))] == [
        f"image {wrong.ref} (target py313) lists {py313[ARM]} for {ARM}, the lock has {plain}"]
    moved = replace(pin, targets={**pin.targets, "py313": replace(target, closure={**target.closure, ARM: ()})})
    problems = check_pins(Lock({NAME: moved}))
    # every platform's image is labelled with all the target's closures: both hold another one now
    assert len(problems) == 2 and problems[1].message.startswith(
        f"image {target.image.ref} ({ARM}: {py313[ARM]}) (target py313) holds something else: "
        f"io.helperhub.closure-sha256={target_closure_sha256({AMD: closure, ARM: closure})} "
        f"(expected {target_closure_sha256({AMD: closure, ARM: ()})}")

    # naming a target pins only it; the lock's other targets of the same release stay
    only = bump_pin(lock_path, NAME, "1.0.0", fresh_index.settings, oci, {NAME}, KFP, targets=("py313",)).pin
    assert only == pin
    with pytest.raises(LockError, match=r"no image for target 'py312' in the OCI registry; it has default, py313"):
        bump_pin(lock_path, NAME, "1.0.0", fresh_index.settings, oci, {NAME}, KFP, targets=("py312",))

    detail = show_helper(IndexSettings(fresh_index.settings.url), NAME, oci)
    (shown,) = detail.versions
    assert [(i.target, i.digest, i.platforms) for i in shown.images] == [
        ("default", plain, (AMD,)), ("py313", index_digest, (AMD, ARM))]
    assert shown.image_digest == plain and detail.warnings == ()


def test_an_image_of_another_closure_is_refused(fresh_index: RunningIndex, oci: str, tmp_path: Path) -> None:
    dists = tmp_path / "dists"
    kfp = build_wheel(dists, "kfp", KFP)
    wheel = build_wheel(dists, "odd-helpers", "2.0.0", requires=[f"kfp=={KFP}"])
    for dist in (kfp, wheel):
        publish(fresh_index, dist)
    labels = helper_labels(wheel, "2.0.0", (), target="py313", python="3.13", implementation="cp", glibc="2.41")
    labels["io.helperhub.package"] = "odd-helpers"
    push_image(oci, "odd-helpers", AMD, labels, "2.0.0-py313")
    lock_path = tmp_path / "pins.json"
    save_lock(lock_path, Lock().with_tool(LockedFile("uv", defaults.UV_VERSION, "uv.whl", "0" * 64), AMD))
    with pytest.raises(IntegrityError, match=r"odd-helpers:2\.0\.0-py313 was built with another closure"):
        bump_pin(lock_path, "odd-helpers", "2.0.0", fresh_index.settings, oci, {"odd-helpers"}, KFP)
    assert load_lock(lock_path).get("odd-helpers") is None  # nothing pinned
    # without an OCI registry: the target default, as before targets
    bumped = bump_pin(lock_path, "odd-helpers", "2.0.0", fresh_index.settings, "", {"odd-helpers"}, KFP)
    assert bumped.note.startswith("the index has no record of odd-helpers 2.0.0")  # published by hand: no record
    pin = bumped.pin
    assert list(pin.targets) == ["default"] and pin.image is None and pin.closure[0].name == "kfp"
