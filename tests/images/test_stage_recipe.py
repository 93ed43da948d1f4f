"""Which existing tag a re-release keeps: one holding the same release built by an earlier recipe
of the tool is kept; other content, or another image user asked for, is not."""

from __future__ import annotations

from helperhub.images.context import RECIPE_LABEL, USER_LABEL, expected_labels
from helperhub.images.oci import RemoteImage
from helperhub.images.stage import earlier_recipe, earlier_recipe_warning
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


def test_the_warning_says_which_user_a_kept_image_runs_as() -> None:
    ref = "127.0.0.1:5000/tabular-helpers:1.0.0"
    old = earlier_recipe_warning(ref, remote(), "root")  # no label: helperhub < 0.2 built it for 10001:10001
    assert old == (f"{ref} was built by an earlier recipe of helperhub and is kept (released images never change); "
                   "it runs as 10001:10001, not root: its steps need a pipeline root that user can write; "
                   "the next version's image is built by this one")
    same = earlier_recipe_warning(ref, remote(**{USER_LABEL: "root"}), "root")
    assert "runs as" not in same and same.startswith(f"{ref} was built by an earlier recipe")
