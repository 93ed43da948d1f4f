"""The webhooks file where the registry is deployed: Compose mounts a folder holding it (the
committed one has no hooks), the cluster's registry reads it from the generated Secret
pypi-webhooks (empty without the git-ignored sources), and a real webhooks.toml with its
webhooks.env renders into a Secret whose mounted files the registry reads as they are."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from helperhub.registry.server.webhooks import load_webhooks
from helperhub.stack.manifests import K8S_DIR, WEBHOOKS, WEBHOOKS_ENV
from tests.conftest import REPO
from tests.stack.test_manifests import OVERLAYS, containers, env, mounts, render, volumes, with_container

MOUNTED = "/etc/helperhub-webhooks"


def test_compose_mounts_a_webhooks_folder_whose_committed_file_has_no_hook() -> None:
    app = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["registry-app"]
    assert app["environment"]["HUB_REGISTRY_WEBHOOKS"] == "/etc/helperhub/webhooks/webhooks.toml"
    assert "${HUB_COMPOSE_WEBHOOKS:-./registry/webhooks}:/etc/helperhub/webhooks:ro" in app["volumes"]
    assert load_webhooks(REPO / "registry/webhooks/webhooks.toml", {}).hooks == ()
    ignored = subprocess.run(["git", "check-ignore", "-q", "registry/webhooks/ci.secret"], cwd=REPO)
    assert ignored.returncode == 0, "hook secrets beside the Compose webhooks file must be git-ignored"


@pytest.fixture(scope="module")
def k8s(tmp_path_factory: pytest.TempPathFactory, kubectl: str) -> Path:
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S_DIR, copy, ignore=shutil.ignore_patterns("htpasswd", "webhooks.toml", "webhooks.env"))
    return copy


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_cluster_registry_reads_webhooks_from_a_secret(k8s: Path, overlay: str) -> None:
    objects = render(k8s, overlay)
    secret = objects["Secret", "pypi-webhooks"]
    assert secret["data"] == {"webhooks.toml": ""}, "without the git-ignored sources: no hooks, no secret"
    registry_pod = with_container(objects, "registry")
    registry = containers(registry_pod)["registry"]
    assert env(registry)["HUB_REGISTRY_WEBHOOKS"] == f"{MOUNTED}/webhooks.toml"
    assert mounts(registry)["webhooks"] == {"name": "webhooks", "mountPath": MOUNTED, "readOnly": True}
    volume = volumes(registry_pod)["webhooks"]["secret"]
    assert volume == {"secretName": secret["metadata"]["name"], "defaultMode": 0o440}
    front_pod = with_container(objects, "front")
    assert "webhooks" not in mounts(containers(front_pod)["front"]), "the front needs no secret"
    if front_pod is not registry_pod:
        assert "webhooks" not in volumes(front_pod)


def test_a_webhooks_file_and_its_secrets_render_into_the_secret(k8s: Path, tmp_path: Path, kubectl: str) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(k8s, copy)
    (copy / WEBHOOKS).write_text('[[hook]]\nurl = "https://ci.example/hooks/helperhub"\nsecret-file = "CI_SECRET"\n')
    (copy / WEBHOOKS_ENV).write_text("CI_SECRET=s3cret-for-ci\n")
    secret = render(copy, "production")["Secret", "pypi-webhooks"]
    mounted = tmp_path / "mounted"  # what the kubelet makes of the Secret: a file per key
    mounted.mkdir()
    for key, value in secret["data"].items():
        (mounted / key).write_bytes(base64.b64decode(value))
    (hook,) = load_webhooks(mounted / "webhooks.toml", {}).hooks
    assert (hook.url, hook.secret) == ("https://ci.example/hooks/helperhub", b"s3cret-for-ci")
    for path in (WEBHOOKS, WEBHOOKS_ENV):
        ignored = subprocess.run(["git", "check-ignore", "-q", str(K8S_DIR / path)], cwd=REPO)
        assert ignored.returncode == 0, f"{path} holds or names secrets: it must be git-ignored"
