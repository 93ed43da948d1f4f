"""The image stage against a real Docker engine and a real OCI registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from images.context import expected_labels
from images.oci import remote_image
from images.stage import ImageSettings, release_image
from registry.errors import IntegrityError
from registry.lock import load_lock
from registry.progress import Silent
from registry.project import discover
from registry.release import release_wheel

from .conftest import RunningIndex, make_repo, release_settings, start_oci

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def released_repo(tmp_path_factory: pytest.TempPathFactory, index: RunningIndex) -> Path:
    root = make_repo(tmp_path_factory.mktemp("img") / "repo")
    projects = discover(root)
    settings = release_settings(root, index.settings)
    release_wheel(settings, projects["tabular-helpers"], projects, Silent())
    return root


def image_settings(root: Path, oci: str, base_image: str, index: RunningIndex) -> ImageSettings:
    return ImageSettings(oci, base_image, index.settings, root / "pins.json")


def test_image_is_built_pushed_and_pinned_by_digest(
    client: Any, oci: str, base_image: str, index: RunningIndex, released_repo: Path
) -> None:
    settings = image_settings(released_repo, oci, base_image, index)
    result = release_image(settings, "tabular-helpers", ("model", "plots"), client, Silent())
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


def test_rerun_does_not_rebuild(
    client: Any, oci: str, base_image: str, index: RunningIndex, released_repo: Path
) -> None:
    settings = image_settings(released_repo, oci, base_image, index)
    first = release_image(settings, "tabular-helpers", ("model", "plots"), client, Silent())
    again = release_image(settings, "tabular-helpers", ("model", "plots"), client, Silent())
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
        settings = image_settings(released_repo, oci, base_image, index)
        with pytest.raises(IntegrityError, match="already exists with other content"):
            release_image(settings, "tabular-helpers", (), client, Silent())
        assert remote_image(f"{oci}/tabular-helpers", "1.0.0") == before


def test_image_adds_no_more_than_the_installed_closure(
    client: Any, oci: str, base_image: str, index: RunningIndex, released_repo: Path
) -> None:
    settings = image_settings(released_repo, oci, base_image, index)
    image = release_image(settings, "tabular-helpers", ("model", "plots"), client, Silent()).image
    added = client.images.get(image.ref).attrs["Size"] - client.images.get(base_image).attrs["Size"]
    closure = int(client.containers.run(
        image.ref, ["du", "-sb", "/opt/helpers"], network_mode="none", remove=True
    ).split()[0])
    print(f"image adds {added / 1e6:.1f} MB over its base; installed closure {closure / 1e6:.1f} MB")
    assert added <= closure * 1.05, (added, closure)
