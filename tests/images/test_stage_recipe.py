"""Which existing tag a re-release keeps: the image the lock pins for the same release, when only
the tool's recipe changed since, is kept; other content, or another image user asked for, is not."""

from __future__ import annotations

from dataclasses import replace

from helperhub.images.context import RECIPE_LABEL, USER_LABEL, expected_labels
from helperhub.images.oci import RemoteImage
from helperhub.images.stage import earlier_recipe
from tests.pipelines.test_factory import DIGEST, fake_pin

PIN = fake_pin("tabular-helpers")
REPO = "127.0.0.1:5000/tabular-helpers"
WANTED = {**expected_labels(PIN), RECIPE_LABEL: "new", USER_LABEL: "root"}


def remote(**labels: str) -> RemoteImage:
    found = {**expected_labels(PIN), RECIPE_LABEL: "old"}
    found.update(labels)
    return RemoteImage(DIGEST, {k: v for k, v in found.items() if v != "<drop>"})


def test_the_locked_image_of_an_earlier_recipe_is_kept() -> None:
    assert earlier_recipe(PIN, REPO, remote(), WANTED)  # no user label: made before the setting
    assert earlier_recipe(PIN, REPO, remote(**{USER_LABEL: ""}), WANTED)
    assert earlier_recipe(PIN, REPO, remote(**{USER_LABEL: "root"}), WANTED)


def test_another_user_asked_for_is_refused() -> None:
    assert not earlier_recipe(PIN, REPO, remote(**{USER_LABEL: "10001:10001"}), WANTED)


def test_other_content_is_refused() -> None:
    assert not earlier_recipe(PIN, REPO, remote(**{"io.helperhub.wheel-sha256": "f" * 64}), WANTED)
    assert not earlier_recipe(PIN, REPO, remote(**{"io.helperhub.closure-sha256": "<drop>"}), WANTED)


def test_only_the_image_the_lock_pins_is_kept() -> None:
    assert not earlier_recipe(replace(PIN, image=None), REPO, remote(), WANTED)
    other = RemoteImage("sha256:" + "e" * 64, remote().labels)
    assert not earlier_recipe(PIN, REPO, other, WANTED)
