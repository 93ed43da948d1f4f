"""The helper image's build context, rendered without an engine: exact build arguments, labels, words."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from helperhub.core.errors import ConfigError
from helperhub.core.uv import BOOTSTRAP, RECORD, programs_sha256
from helperhub.images.context import DOCKERFILE, dependency_words, image_spec, install_layers, label_mismatch
from helperhub.lock.closure import LockedFile, closure_sha256
from helperhub.registry.client import IndexSettings
from tests.pipelines.test_factory import SHA, fake_pin


def test_image_build_args_and_labels_are_exact() -> None:
    pin = fake_pin("vision-helpers", ("tabular-helpers<2,>=1",))
    uv = LockedFile("uv", "0.13.8", "uv-0.13.8-py3-none-manylinux_2_17_x86_64.whl", "5" * 64)
    # the build reaches the index at another address than the lock's URLs: the words follow it
    spec = image_spec(pin, registry="127.0.0.1:5000", base_image="base@sha256:1",
                      index=IndexSettings("http://10.0.0.1:8080"), uv=uv)
    args = dict(spec.buildargs)
    url = "http://10.0.0.1:8080/packages"
    assert spec.ref == "127.0.0.1:5000/vision-helpers:1.0.0"
    # layer 1: the third-party closure, every extra; layer 2: the helpers; each file by URL and sha256
    assert args["DEPENDENCIES"] == " ".join(install_layers(pin, "http://10.0.0.1:8080/simple/")[0]) == (
        f"kfp@{url}/kfp-2.17.3-py3-none-any.whl#sha256={'1' * 64} "
        f"matplotlib@{url}/matplotlib-3.8.0-py3-none-any.whl#sha256={'3' * 64} "
        f"numpy@{url}/numpy-2.0.0-py3-none-any.whl#sha256={'2' * 64} "
        f"scikit-learn@{url}/scikit_learn-1.4.0-py3-none-any.whl#sha256={'4' * 64}")
    assert args["REQUIREMENTS"] == (
        f"tabular-helpers@{url}/tabular_helpers-1.0.0-py3-none-any.whl#sha256={SHA} "
        f"vision-helpers@{url}/vision_helpers-1.0.0-py3-none-any.whl#sha256={SHA}")
    assert dict(spec.labels)["io.helperhub.closure-sha256"] == args["CLOSURE_SHA256"] == closure_sha256(pin.closure)
    assert (args["UV_URL"], args["UV_SHA256"], args["UV_VERSION"], args["KFP_VERSION"]) == (
        f"{url}/{uv.filename}", "5" * 64, "0.13.8", "2.17.3")
    assert (args["UV_BOOTSTRAP"], args["UV_RECORD"]) == (BOOTSTRAP, RECORD)
    assert dict(spec.labels)["io.helperhub.wheel-sha256"] == pin.sha256
    # a changed Dockerfile, uv or program that comes with it is a changed recipe, so a changed image
    parts = [hashlib.sha256(DOCKERFILE.read_bytes()).hexdigest(), uv.sha256, programs_sha256()]
    recipe = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    assert dict(spec.labels)["io.helperhub.recipe-sha256"] == args["RECIPE_SHA256"] == recipe
    other = image_spec(pin, registry="127.0.0.1:5000", base_image="base@sha256:1",
                       index=IndexSettings("http://10.0.0.1:8080"), uv=dataclasses.replace(uv, sha256="6" * 64))
    assert dict(other.labels)["io.helperhub.recipe-sha256"] != recipe
    assert label_mismatch(dict(spec.labels), {}) != []
    text = DOCKERFILE.read_text()
    assert "index-url" not in text and text.count("--no-config --no-index --no-deps") == 2
    assert text.count("--require-hashes --no-cache") == 2 and "FROM ${BASE_IMAGE}" in text
    assert "${DEPENDENCIES}" in text and "${REQUIREMENTS}" in text


def test_dependency_words_refuse_shell_syntax() -> None:
    assert dependency_words(("kfp==2.17.3", "numpy>=1.26")) == "kfp==2.17.3 numpy>=1.26"
    with pytest.raises(ConfigError):
        dependency_words(("numpy; rm -rf /",))

