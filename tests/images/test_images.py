"""The image stage against a real Docker engine and a real OCI registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helperhub.core.errors import IntegrityError
from helperhub.core.progress import Silent
from helperhub.images.context import expected_labels
from helperhub.images.oci import remote_image
from helperhub.images.stage import ImageRelease, ImageSettings, release_image
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import PackagePin, load_lock
from helperhub.release.project import discover
from helperhub.release.run import ImageStage, bake_images
from tests.conftest import Released, RunningIndex, copy_repo, start_oci

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def oci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This module's own OCI registry: its first build is a build, whatever other modules pushed
    to the session's registry before."""
    yield from start_oci(tmp_path_factory.mktemp("oci-images"))


@pytest.fixture(scope="module")
def released_repo(tmp_path_factory: pytest.TempPathFactory, released: Released) -> Path:
    """A copy of the session's release (wheels and uv, which the image builds install with, no
    images yet): this module bakes images into its lock."""
    return copy_repo(released.root, tmp_path_factory.mktemp("img") / "repo")


def image_settings(oci: str, base_image: str, index: RunningIndex) -> ImageSettings:
    return ImageSettings(oci, base_image, index.settings)


def bake(root: Path, settings: ImageSettings, client: Any) -> ImageRelease:
    """The image stage of a release: build or confirm, then record the digest in the lock."""
    project = discover(root)["tabular-helpers"]
    return bake_images(ImageStage(settings, client), root / "pins.json", [project], Silent())[0]


def tabular_pin(root: Path) -> PackagePin:
    return load_lock(root / "pins.json").require("tabular-helpers", fix="-")


def uv_pin(root: Path) -> LockedFile:
    return load_lock(root / "pins.json").require_tool("uv")


def test_image_is_built_pushed_and_pinned_by_digest(
    client: Any, oci: str, base_image: str, index: RunningIndex, released_repo: Path
) -> None:
    settings = image_settings(oci, base_image, index)
    result = bake(released_repo, settings, client)
    assert result.built
    pin = load_lock(released_repo / "pins.json").require("tabular-helpers", fix="-")
    assert pin.image == result.image
    remote = remote_image(f"{oci}/tabular-helpers", "1.0.0")
    assert remote is not None
    assert pin.image.ref == f"{oci}/tabular-helpers@{remote.digest}"
    assert pin.image.tag == f"{oci}/tabular-helpers:1.0.0"
    assert "@sha256:" in pin.image.base_image
    labels = remote.labels
    assert {k: labels[k] for k in expected_labels(pin)} == expected_labels(pin)
    assert labels["org.opencontainers.image.revision"] == pin.commit

    # the pinned digest runs with no network and has the helper and kfp inside
    client.images.remove(pin.image.tag, force=True)
    client.images.pull(pin.image.ref)
    out = client.containers.run(
        pin.image.ref, ["python3", "-c", "import tabular_helpers, kfp, sklearn, matplotlib; "
                        "print(tabular_helpers.__version__, kfp.__version__)"],
        network_mode="none", remove=True,
    ).decode().split()
    assert out == [pin.version, pin.kfp_version]


def test_image_runs_as_root_and_no_other_user_can_change_the_helpers(
    client: Any, oci: str, base_image: str, index: RunningIndex, released_repo: Path
) -> None:
    image = bake(released_repo, image_settings(oci, base_image, index), client).image
    assert client.images.get(image.ref).attrs["Config"]["User"] == "root"
    out = client.containers.run(
        image.ref, ["sh", "-c", "id -u; id -g; touch /opt/helpers/x 2>/dev/null && echo writable || echo read-only; "
                    "stat -c %u /opt/helpers /opt/helpers/lib/python3.11/site-packages/tabular_helpers"],
        network_mode="none", remove=True, user="10001:10001",
    ).decode().split()
    assert out == ["10001", "10001", "read-only", "0", "0"]


def test_image_records_the_sha256_of_its_helper_wheel(
    client: Any, oci: str, base_image: str, index: RunningIndex, released_repo: Path
) -> None:
    """Every file is installed by direct URL, its sha256 required (uv checks it, and keeps none in
    direct_url.json): the image's install record carries the helper's, and the step-start check of
    an image-mode step accepts exactly that wheel."""
    import json

    from helperhub.pipelines.checks import check_source

    image = bake(released_repo, image_settings(oci, base_image, index), client).image
    pin = tabular_pin(released_repo)
    # exactly the locked closure: every distribution, from the locked file, installed by uv
    installed = json.loads(client.containers.run(image.ref, ["python3", "-c", INSTALLED], network_mode="none",
                                                 remove=True))
    locked = {f.name: [f.filename, "uv"] for f in pin.closure} | {pin.name: [pin.wheel, "uv"]}
    assert installed == locked
    record = json.loads(client.containers.run(
        image.ref, ["sh", "-c", "cat /opt/helpers/helperhub-install-report.json; echo"], network_mode="none",
        remove=True,
    ))
    assert [(i["metadata"]["name"], i["download_info"]["archive_info"]["hashes"]["sha256"])
            for i in record["install"]] == [("tabular-helpers", pin.sha256)]

    def check(sha256: str) -> Any:
        pins = json.dumps([{"name": pin.name, "module": "tabular_helpers", "version": pin.version,
                            "mode": "image", "sha256": sha256}])
        container = client.containers.run(image.ref, ["python3", "-c", check_source(pins)],
                                          network_mode="none", detach=True)
        try:
            return container.wait()["StatusCode"], container.logs().decode()
        finally:
            container.remove(force=True)

    assert check(pin.sha256) == (0, "")
    code, logs = check("0" * 64)
    assert code != 0 and f"was installed from a wheel with sha256 {pin.sha256} but this step is pinned" in logs


# every distribution of the image's environment: name -> (wheel file from its direct_url.json, installer)
INSTALLED = """
import importlib.metadata as m, json, re
out = {}
for d in m.distributions():
    info = json.loads(d.read_text("direct_url.json") or "{}")
    name = re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()
    if name != "pip":
        out[name] = [info.get("url", "").rsplit("/", 1)[-1], (d.read_text("INSTALLER") or "").strip()]
print(json.dumps(out))
"""

TREE_HASH = (
    "cd /opt/helpers && find . -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum"
)


def test_two_uncached_builds_of_one_pin_install_the_same_files(
    client: Any, oci: str, base_image: str, index: RunningIndex, released_repo: Path
) -> None:
    """Nothing is resolved at build time: two --no-cache builds give the same file tree."""
    from helperhub.images import engine
    from helperhub.images.context import image_spec

    pin = tabular_pin(released_repo)
    spec = image_spec(pin, registry=oci, base_image=engine.repo_digest(client, base_image), index=index.settings,
                      uv=load_lock(released_repo / "pins.json").require_tool("uv"))
    trees = []
    for _ in range(2):
        image_id = engine.build(client, spec, log=lambda _line: None, nocache=True)
        out = client.containers.run(image_id, ["sh", "-c", TREE_HASH], network_mode="none", remove=True)
        trees.append(out.decode().split()[0])
        client.images.remove(image_id, force=True)
    assert trees[0] == trees[1] and len(trees[0]) == 64


def test_rerun_does_not_rebuild(
    client: Any, oci: str, base_image: str, index: RunningIndex, released_repo: Path
) -> None:
    settings = image_settings(oci, base_image, index)
    first = bake(released_repo, settings, client)
    again = release_image(settings, tabular_pin(released_repo), uv_pin(released_repo), client, Silent())
    assert not again.built and again.image == first.image


def test_existing_tag_with_other_content_is_refused(
    client: Any, base_image: str, index: RunningIndex, released_repo: Path,
    tmp_path: Path,
) -> None:
    for oci in start_oci(tmp_path):
        squatter = f"{oci}/tabular-helpers:1.0.0"
        client.images.get(base_image).tag(squatter)
        client.images.push(f"{oci}/tabular-helpers", tag="1.0.0")
        before = remote_image(f"{oci}/tabular-helpers", "1.0.0")
        settings = image_settings(oci, base_image, index)
        with pytest.raises(IntegrityError, match="already exists with other content"):
            release_image(settings, tabular_pin(released_repo), uv_pin(released_repo), client, Silent())
        assert remote_image(f"{oci}/tabular-helpers", "1.0.0") == before


def test_image_adds_no_more_than_the_installed_closure(
    client: Any, oci: str, base_image: str, index: RunningIndex, released_repo: Path
) -> None:
    settings = image_settings(oci, base_image, index)
    image = bake(released_repo, settings, client).image
    added = client.images.get(image.ref).attrs["Size"] - client.images.get(base_image).attrs["Size"]
    closure = int(client.containers.run(
        image.ref, ["du", "-sb", "/opt/helpers"], network_mode="none", remove=True
    ).split()[0])
    print(f"image adds {added / 1e6:.1f} MB over its base; installed closure {closure / 1e6:.1f} MB")
    assert added <= closure * 1.05, (added, closure)
