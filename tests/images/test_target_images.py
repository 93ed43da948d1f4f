"""One image per target against the real engine and OCI registries: a helper whose closure holds a
platform-specific wheel with an extension module, released for linux/amd64 (helper.Dockerfile)
and linux/arm64 (installed on this amd64 host, appended to the arm64 base by the registry API;
no arm64 code runs) under one image index."""

from __future__ import annotations

import io
import json
import os
import platform
import tarfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from helperhub.core import defaults
from helperhub.core.errors import IntegrityError
from helperhub.core.fs import sha256_file
from helperhub.core.progress import Silent
from helperhub.core.targets import TargetSpec
from helperhub.images import registry_api
from helperhub.images.facts import elf_machine
from helperhub.images.foreign import ForeignBuild, build_foreign
from helperhub.images.oci import platform_manifests, registry_answers, remote_image
from helperhub.images.stage import ImageRelease, ImageSettings
from helperhub.images.target_context import oci_labels, platform_wheel, release_labels
from helperhub.images.targets import ResolvedTarget, resolve_target
from helperhub.images.targets_stage import release_target_image
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import PackagePin
from helperhub.lock.target_pins import TargetPin
from helperhub.release.publish import publish
from tests.conftest import RunningIndex, missing, start_index, start_oci
from tests.images.probe_wheels import HELPER, PROBE, probe_wheels, uv_wheel

pytestmark = pytest.mark.docker

AMD64, ARM64 = "linux/amd64", "linux/arm64"
USER = "10001:10001"  # non-root: both builds add the account `helper`
TAG = "1.0.0-py311"
SITE = "opt/helpers/lib/python3.11/site-packages"
EMULATION = "/proc/sys/fs/binfmt_misc/qemu-aarch64"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIndex]:
    """This module's own index: its uv is made from the venv's binary, which the session's index
    (holding the real uv of the same version) would refuse as another file of a released version."""
    running = start_index(tmp_path_factory.mktemp("index-targets"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def oci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's own OCI registry (the bases stay in the provisioned one: blobs are copied)."""
    yield from start_oci(tmp_path_factory.mktemp("oci-targets"))


@pytest.fixture(scope="module")
def target(client: Any, tmp_path_factory: pytest.TempPathFactory) -> ResolvedTarget:
    if platform.machine() != "x86_64":
        pytest.skip("the probe wheels and uv here are made for an x86_64 host")
    bases = os.environ.get("HUB_OCI_REGISTRY", defaults.OCI_REGISTRY)
    found = platform_manifests(f"{bases}/python", "3.11-slim") if registry_answers(bases) else None
    if found is None or set(found[1]) != {AMD64, ARM64}:
        missing(f"{bases}/python:3.11-slim is no amd64 + arm64 index (HUB_ENGINE_BASES, scripts/engine.sh)")
    spec = TargetSpec("py311", "python:3.11-slim", (AMD64, ARM64))
    return resolve_target(spec, bases, lambda: client, tmp_path_factory.mktemp("facts"))


@pytest.fixture(scope="module")
def probe(client: Any, index: RunningIndex, target: ResolvedTarget,
          tmp_path_factory: pytest.TempPathFactory) -> tuple[PackagePin, LockedFile]:
    """probe-helper 1.0.0 in the index, pinned for the target py311 on both platforms, and uv."""
    dest = tmp_path_factory.mktemp("wheels")
    wheels = probe_wheels(dest, client, {"x86_64": target.bases[AMD64], "aarch64": target.bases[ARM64]})
    uv_path = uv_wheel(dest, defaults.UV_VERSION)
    publish(index.settings, [*wheels, uv_path])
    files = {w.name: LockedFile(w.name.split("-")[0].replace("_", "-"), "1.0.0", w.name, sha256_file(w))
             for w in wheels}
    helper = wheels[-1]
    closure = {AMD64: tuple(f for n, f in files.items() if "x86_64" in n),
               ARM64: tuple(f for n, f in files.items() if "aarch64" in n)}
    pin = PackagePin(
        name=HELPER, version="1.0.0", wheel=helper.name, sha256=sha256_file(helper),
        url=f"{index.settings.base}/packages/{helper.name}", index_url=index.settings.simple_url,
        kfp_version="2.0.0", commit="0" * 40, released_at="2026-01-01T00:00:00Z", requires=(PROBE,),
        targets={"py311": TargetPin.of(target.shared, base_image=target.base, closure=closure)},
    )
    uv = LockedFile("uv", defaults.UV_VERSION, uv_path.name, sha256_file(uv_path))
    return pin, uv


def settings_for(oci: str, index: RunningIndex, tmp: Path) -> ImageSettings:
    return ImageSettings(oci, "-", index.settings, USER, locks=tmp / "locks", cache=tmp / "cache")


@pytest.fixture(scope="module")
def probe_image(client: Any, oci: str, index: RunningIndex, target: ResolvedTarget,
                probe: tuple[PackagePin, LockedFile], tmp_path_factory: pytest.TempPathFactory) -> ImageRelease:
    pin, uv = probe
    settings = settings_for(oci, index, tmp_path_factory.mktemp("stage"))
    return release_target_image(settings, pin, target, {AMD64: uv}, client, Silent())


def manifest_and_config(ref: str) -> tuple[dict[str, Any], dict[str, Any]]:
    found = registry_api.get_manifest(ref)
    assert found is not None and found[0] in registry_api.IMAGE_TYPES
    manifest = json.loads(found[1])
    host, repo, _ = registry_api.split(ref)
    return manifest, json.loads(registry_api.get_blob(host, repo, manifest["config"]["digest"]))


def last_layer(ref: str) -> tarfile.TarFile:
    manifest, _ = manifest_and_config(ref)
    host, repo, _ = registry_api.split(ref)
    blob = registry_api.get_blob(host, repo, manifest["layers"][-1]["digest"])
    return tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz")


def test_the_index_names_both_platforms_and_the_pin_records_them(
    probe_image: ImageRelease, oci: str, target: ResolvedTarget, probe: tuple[PackagePin, LockedFile]
) -> None:
    pin, uv = probe
    image = probe_image.image
    assert probe_image.built
    remote = remote_image(f"{oci}/{HELPER}", TAG)
    assert remote is not None and set(remote.platforms) == {AMD64, ARM64}
    assert image.ref == f"{oci}/{HELPER}@{remote.digest}" and image.tag == f"{oci}/{HELPER}:{TAG}"
    assert image.platforms == remote.platforms and image.base_image == target.base and image.registry == oci
    for platform_name, arch in ((AMD64, "amd64"), (ARM64, "arm64")):  # each platform under its own tag too
        own = remote_image(f"{oci}/{HELPER}", f"{TAG}-{arch}")
        assert own is not None and own.digest == image.platforms[platform_name]
    # both platforms carry the release's labels, so the index's labels are all of them
    labels = release_labels(pin, "py311", uv.version, USER)
    assert {k: remote.labels.get(k) for k in labels} == labels
    assert labels["io.helperhub.target"] == "py311" and labels["io.helperhub.glibc"] == "2.36"


def test_the_arm64_image_is_the_arm64_base_and_one_layer_of_files_installed_for_aarch64(
    probe_image: ImageRelease, oci: str, target: ResolvedTarget, probe: tuple[PackagePin, LockedFile]
) -> None:
    pin, _ = probe
    ref = f"{oci}/{HELPER}@{probe_image.image.platforms[ARM64]}"
    manifest, config = manifest_and_config(ref)
    base_manifest, base_config = manifest_and_config(target.bases[ARM64])
    assert (config["architecture"], config["os"], config.get("variant")) == ("arm64", "linux", "v8")
    assert manifest["layers"][:-1] == base_manifest["layers"]
    assert config["rootfs"]["diff_ids"][:-1] == base_config["rootfs"]["diff_ids"]
    run = config["config"]
    assert run["User"] == USER
    assert run["Env"][0] == "PATH=/opt/helpers/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    assert run["Env"][-1] == "VIRTUAL_ENV=/opt/helpers"
    assert run["Labels"]["org.opencontainers.image.base.name"] == target.bases[ARM64]
    layer = last_layer(ref)
    names = layer.getnames()
    so = f"{SITE}/hub_probe/xxlimited.cpython-311-aarch64-linux-gnu.so"
    assert so in names and not any("x86_64" in n for n in names)
    module = layer.extractfile(so)
    assert module is not None and elf_machine(module.read(20)) == "aarch64"
    assert layer.getmember("opt/helpers/bin/python3").linkname == "/usr/bin/python3"
    assert layer.getmember("opt/helpers/bin/python").linkname == "python3"
    assert {m.mtime for m in layer.getmembers()} == {0} and {m.uid for m in layer.getmembers()} == {0}

    def text(name: str) -> str:
        handle = layer.extractfile(name)
        assert handle is not None
        return handle.read().decode()

    assert text("opt/helpers/pyvenv.cfg") == (
        "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n"
        "executable = /usr/bin/python3.11\ncommand = /usr/bin/python3 -m venv --without-pip /opt/helpers\n")
    assert text("opt/helpers/bin/probe-helper").startswith("#!/opt/helpers/bin/python\n")
    assert json.loads(text("opt/helpers/helperhub-install-report.json")) == {"install": [
        {"metadata": {"name": HELPER}, "download_info": {"archive_info": {"hashes": {"sha256": pin.sha256}}}}]}
    assert text("etc/passwd").endswith("\nhelper:x:10001:10001::/nonexistent:/usr/sbin/nologin\n")
    assert text("etc/group").endswith("\nhelper:x:10001:\n")


def test_a_rerun_reuses_the_index_and_other_content_is_refused(
    probe_image: ImageRelease, client: Any, oci: str, index: RunningIndex, target: ResolvedTarget,
    probe: tuple[PackagePin, LockedFile], tmp_path: Path,
) -> None:
    pin, uv = probe
    settings = settings_for(oci, index, tmp_path)
    again = release_target_image(settings, pin, target, {AMD64: uv}, client, Silent())
    assert not again.built and again.image == probe_image.image
    other = replace(pin, sha256="1" * 64)
    with pytest.raises(IntegrityError, match=r"already exists with other content .*bump the version"):
        release_target_image(settings, other, target, {AMD64: uv}, client, Silent())
    kept = remote_image(f"{oci}/{HELPER}", TAG)
    assert kept is not None and kept.digest == probe_image.image.ref.split("@")[1]


def opt_helpers(client: Any, image: str) -> dict[str, tuple[str, str]]:
    """/opt/helpers and the accounts of ``image``: path -> (kind, sha256 or link target)."""
    import hashlib

    client.images.pull(image)
    container = client.api.create_container(image, command=["/nonexistent"])["Id"]
    try:
        out: dict[str, tuple[str, str]] = {}
        for path in ("/opt/helpers", "/etc/passwd", "/etc/group"):
            stream, _ = client.api.get_archive(container, path)
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream)), mode="r:") as tar:
                for m in tar.getmembers():
                    handle = tar.extractfile(m) if m.isfile() else None
                    value = hashlib.sha256(handle.read()).hexdigest() if handle else m.linkname
                    out[m.name] = ("dir" if m.isdir() else "link" if m.issym() else "file", value)
        return out
    finally:
        client.api.remove_container(container, force=True)


def test_the_host_built_tree_is_the_dockerfile_tree(
    probe_image: ImageRelease, client: Any, oci: str, index: RunningIndex, target: ResolvedTarget,
    probe: tuple[PackagePin, LockedFile], tmp_path: Path,
) -> None:
    """The amd64 platform built both ways (helper.Dockerfile in the released index, on the host
    here) installs the same files: the host build lays /opt/helpers out as the venv the Dockerfile
    makes (the activate scripts aside), and adds the same account lines."""
    pin, uv = probe
    view = platform_wheel(pin, "py311", AMD64)
    labels = {**release_labels(pin, "py311", uv.version, USER), **oci_labels(view, target.bases[AMD64])}
    build = ForeignBuild(view, AMD64, target.bases[AMD64], target.facts[AMD64], labels, USER)
    digest = build_foreign(build, f"{oci}/{HELPER}:layout-amd64", index.settings, uv, tmp_path, client)
    dockerfile = opt_helpers(client, f"{oci}/{HELPER}@{probe_image.image.platforms[AMD64]}")
    host = opt_helpers(client, f"{oci}/{HELPER}@{digest}")
    activate = {f"helpers/bin/{n}" for n in ("activate", "activate.csh", "activate.fish", "Activate.ps1")}
    assert set(dockerfile) - set(host) == activate
    assert {k: v for k, v in dockerfile.items() if k not in activate} == host
    # a rebuild gives the same manifest
    assert build_foreign(build, f"{oci}/{HELPER}:layout-amd64", index.settings, uv, tmp_path, client) == digest


@pytest.mark.slow
def test_the_arm64_image_runs_under_emulation(probe_image: ImageRelease, client: Any, oci: str) -> None:
    if not os.path.exists(EMULATION):
        missing("arm64 emulation is not registered (scripts/engine.sh --emulation)")
    ref = f"{oci}/{HELPER}@{probe_image.image.platforms[ARM64]}"
    client.images.pull(ref)
    out = client.containers.run(ref, ["sh", "-c", "python -c 'import platform, probe_helper; "
                                      "print(platform.machine())'; probe-helper; id -un"],
                                network_mode="none", remove=True).decode().split()
    assert out == ["aarch64", "aarch64", "hub_probe.xxlimited", "helper"]


def test_pins_check_accepts_the_index_and_refuses_other_labels(
    probe_image: ImageRelease, probe: tuple[PackagePin, LockedFile]
) -> None:
    """`helperhub pins check` reads the index by digest: the labels its platforms agree on."""
    from helperhub.lock.lockfile import Lock
    from helperhub.pipelines.pins import check_pins

    pin, uv = probe
    tools = {"uv": {AMD64: uv}}
    assert check_pins(Lock({pin.name: pin.with_image(probe_image.image)}, tools)) == []
    other = replace(pin, kfp_version="2.1.0").with_image(probe_image.image)
    problems = [p.message for p in check_pins(Lock({pin.name: other}, tools))]
    assert len(problems) == len(probe_image.image.platforms) == 2  # each platform's image is checked
    for problem, (where, digest) in zip(problems, probe_image.image.platforms.items(), strict=True):
        assert problem.startswith(f"image {probe_image.image.ref} ({where}: {digest}) (target ")
        assert problem.endswith(" holds something else: io.helperhub.kfp-version=2.0.0 (expected 2.1.0)")


def test_the_default_target_is_the_image_of_before_targets(
    client: Any, oci: str, index: RunningIndex, target: ResolvedTarget, probe: tuple[PackagePin, LockedFile],
    tmp_path: Path,
) -> None:
    """A repository without declared targets: ``release_image``'s image under the plain version,
    its labels those of images before targets (so they stay reusable), no platforms recorded."""
    from helperhub.core.targets import default_facts
    from helperhub.images.context import expected_labels
    from helperhub.images.targets import default_target

    pin, uv = probe
    closure = pin.targets["py311"].closure[AMD64]
    plain = replace(pin, targets={"default": TargetPin.of(default_facts(), closure={AMD64: closure})},
                    default_target="default")
    settings = replace(settings_for(oci, index, tmp_path), user="root")
    base = f"{target.base.split('@')[0]}:3.11-slim-amd64"
    first = release_target_image(settings, plain, default_target(base), {AMD64: uv}, client, Silent())
    assert first.built and first.image.tag == f"{oci}/{HELPER}:1.0.0" and first.image.platforms == {}
    remote = remote_image(f"{oci}/{HELPER}", "1.0.0")
    assert remote is not None and first.image.ref == f"{oci}/{HELPER}@{remote.digest}"
    assert {k: remote.labels[k] for k in expected_labels(plain)} == expected_labels(plain)
    assert not any(k in remote.labels for k in ("io.helperhub.target", "io.helperhub.python"))
    again = release_target_image(settings, plain, default_target(base), {AMD64: uv}, client, Silent())
    assert not again.built and again.image == first.image
