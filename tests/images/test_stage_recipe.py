"""Which existing tag a re-release keeps: one holding the same release built by an earlier recipe
of the tool is kept; other content, or another image user asked for, is not."""

from __future__ import annotations

from helperhub.images.context import RECIPE_LABEL, USER_LABEL, expected_labels
from helperhub.images.oci import RemoteImage
from helperhub.images.stage import earlier_recipe
from tests.pipelines.test_factory import DIGEST, fake_pin

PIN = fake_pin("tabular-helpers")
WANTED = {**expected_labels(PIN), RECIPE_LABEL: "new", USER_LABEL: "root"}


def remote(**labels: str) -> RemoteImage:
    found = {**expected_labels(PIN), RECIPE_LABEL: "old"}
    found.update(labels)
    return RemoteImage(DIGEST, {k: v for k, v in found.items() if v != "<drop>"})


def test_the_same_release_of_an_earlier_recipe_is_kept() -> None:
    assert earlier_recipe(remote(), WANTED)  # no user label: made before the setting
    assert earlier_recipe(remote(**{USER_LABEL: ""}), WANTED)
    assert earlier_recipe(remote(**{USER_LABEL: "root"}), WANTED)


def test_another_user_asked_for_is_refused() -> None:
    assert not earlier_recipe(remote(**{USER_LABEL: "10001:10001"}), WANTED)


def test_other_content_is_refused() -> None:
    assert not earlier_recipe(remote(**{"io.helperhub.wheel-sha256": "f" * 64}), WANTED)
    assert not earlier_recipe(remote(**{"io.helperhub.closure-sha256": "<drop>"}), WANTED)
