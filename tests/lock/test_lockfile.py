"""Pure pieces: lock I/O, versions, release order, index page parsing, image build context."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from packaging.version import Version

from helperhub.core.errors import ConfigError, LockError, VersionError
from helperhub.core.uv import BOOTSTRAP, RECORD, programs_sha256
from helperhub.images.context import DOCKERFILE, image_spec, install_layers, label_mismatch
from helperhub.lock.closure import LockedFile, closure_sha256
from helperhub.lock.lockfile import Lock, dump_lock, load_lock, save_lock, update_lock
from helperhub.registry.client import IndexSettings, newest_version, parse_simple_page
from helperhub.release.mirror import closure_requirements
from helperhub.release.project import discover, release_order
from helperhub.release.versions import next_version, parse_version
from helperhub.stack.embedded import EmbeddedRegistry, start, stop
from tests.conftest import REPO, free_port
from tests.pipelines.test_factory import SHA, fake_pin


def test_lock_round_trips_and_is_sorted(tmp_path: Path) -> None:
    lock = Lock({"vision-helpers": fake_pin("vision-helpers"), "tabular-helpers": fake_pin("tabular-helpers")})
    path = tmp_path / "pins.json"
    save_lock(path, lock)
    assert load_lock(path) == lock
    text = path.read_text()
    assert text == dump_lock(lock) and text.endswith("\n")
    assert list(json.loads(text)["packages"]) == ["tabular-helpers", "vision-helpers"]
    assert [p.name for p in tmp_path.iterdir()] == ["pins.json"]  # no temp file left behind


def test_update_lock_merges_one_pin(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    update_lock(path, fake_pin("tabular-helpers"))
    update_lock(path, fake_pin("vision-helpers"))
    assert sorted(load_lock(path).packages) == ["tabular-helpers", "vision-helpers"]


def test_broken_lock_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "pins.json"
    path.write_text("{ not json")
    with pytest.raises(LockError, match="not valid JSON"):
        load_lock(path)
    assert load_lock(tmp_path / "missing.json") == Lock()


@pytest.mark.parametrize(("current", "how", "expected"), [
    ("1.2.3", "patch", "1.2.4"), ("1.2.3", "minor", "1.3.0"), ("1.2.3", "major", "2.0.0"),
    ("1.2.3", "2.0.0rc1", "2.0.0rc1"), ("1.3.0rc1", "patch", "1.3.0"),
])
def test_next_version(current: str, how: str, expected: str) -> None:
    assert next_version(Version(current), how) == Version(expected)


def test_versions_are_pep440_and_go_forward() -> None:
    with pytest.raises(VersionError, match="not a valid PEP 440"):
        parse_version("1.0.x")
    with pytest.raises(VersionError, match="not higher"):
        next_version(Version("1.2.0"), "1.1.9")


def test_release_order_puts_dependencies_first() -> None:
    projects = discover(REPO)
    assert [p.name for p in release_order(projects, [])] == ["tabular-helpers", "vision-helpers"]
    assert [p.name for p in release_order(projects, ["vision-helpers"])] == ["vision-helpers"]
    with pytest.raises(ConfigError, match="no helper package 'nope'"):
        release_order(projects, ["nope"])


def test_closure_follows_local_helpers_and_adds_kfp() -> None:
    projects = discover(REPO)
    reqs = closure_requirements(projects["vision-helpers"], projects, "2.17.3")
    assert "kfp==2.17.3" in reqs
    assert any(r.startswith("pandas") for r in reqs) and any(r.startswith("scikit-learn") for r in reqs)
    assert not any(r.startswith("tabular-helpers") for r in reqs)


def test_simple_page_links_carry_sha256() -> None:
    html = ('<a href="../../packages/x_y-1.0.0-py3-none-any.whl#sha256=abc">x</a>'
            '<a href="../../packages/x_y-1.1.0.tar.gz#sha256=def">x</a>')
    files = parse_simple_page("http://h:1/simple/x-y/", html)
    assert files["x_y-1.0.0-py3-none-any.whl"].url == "http://h:1/packages/x_y-1.0.0-py3-none-any.whl"
    assert files["x_y-1.0.0-py3-none-any.whl"].sha256 == "abc"
    assert newest_version(files) == Version("1.1.0")


def test_index_settings_derive_urls() -> None:
    s = IndexSettings("http://127.0.0.1:8080/simple/")
    assert (s.base, s.simple_url, s.upload_url, s.trusted_hosts) == (
        "http://127.0.0.1:8080", "http://127.0.0.1:8080/simple/", "http://127.0.0.1:8080/", ["127.0.0.1"])
    assert IndexSettings("https://pypi.example.org").trusted_hosts == []


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


def test_embedded_registry_starts_and_stops(tmp_path: Path) -> None:
    reg = EmbeddedRegistry(state=tmp_path / ".hub", port=free_port())
    settings = start(reg)
    assert settings.username == "release" and (reg.credentials.stat().st_mode & 0o777) == 0o600
    assert start(reg) == settings  # already running: same registry, same credentials
    assert stop(reg) and not stop(reg)
