"""The retention policy where the registry is deployed: Compose mounts registry/retention.toml and
makes its generated login an admin, with an OCI registry that takes deletes; the cluster's
registry reads base/retention.toml (the same policy) from a ConfigMap whose hashed name rolls the
Deployment when the policy changes, and its admins come from the owners file's [admins]."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from helperhub.registry.server.retention import load_policy, parse_policy
from helperhub.stack.embedded import UPLOADER
from helperhub.stack.manifests import K8S_DIR
from tests.conftest import REPO
from tests.stack.test_manifests import (
    OVERLAYS,
    Objects,
    containers,
    env,
    mounts,
    render,
    volumes,
    with_container,
)

SHIPPED = REPO / "registry/retention.toml"
CLUSTER = REPO / K8S_DIR / "base/retention.toml"
MOUNTED = "/etc/helperhub-retention"


def test_compose_serves_the_shipped_policy_and_its_login_runs_gc() -> None:
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    app = services["registry-app"]
    assert app["environment"]["HUB_REGISTRY_RETENTION"] == "/etc/helperhub/retention.toml"
    assert "./registry/retention.toml:/etc/helperhub/retention.toml:ro" in app["volumes"]
    assert load_policy(SHIPPED).keep_newest >= 1
    # the login `make compose-up` generates (compose_run.credentials: ensure_credentials) is an admin
    assert app["command"][app["command"].index("--admin") + 1] == UPLOADER
    oci = services["registry"]
    assert oci["environment"]["REGISTRY_STORAGE_DELETE_ENABLED"] == "true"
    assert [port.split(":")[0] for port in oci["ports"]] == ["127.0.0.1"], "deletes from this machine only"


def test_the_cluster_policy_is_the_shipped_one() -> None:
    assert load_policy(CLUSTER) == load_policy(SHIPPED)
    table = [t.read_text().partition("\n[retention]\n")[2] for t in (CLUSTER, SHIPPED)]
    assert table[0] and table[0] == table[1], "copy registry/retention.toml's [retention] table to the base"


@pytest.fixture(scope="module")
def k8s(tmp_path_factory: pytest.TempPathFactory, kubectl: str) -> Path:
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(REPO / K8S_DIR, copy, ignore=shutil.ignore_patterns("htpasswd", "webhooks.toml", "webhooks.env"))
    return copy


def retention_map(objects: Objects) -> str:
    """The name of the ConfigMap the registry's policy is mounted from, checked on the way."""
    registry_pod = with_container(objects, "registry")
    registry = containers(registry_pod)["registry"]
    path = Path(env(registry)["HUB_REGISTRY_RETENTION"])
    assert path == Path(MOUNTED, "retention.toml")
    assert mounts(registry)["retention"] == {"name": "retention", "mountPath": MOUNTED, "readOnly": True}
    volume = volumes(registry_pod)["retention"]["configMap"]
    name = str(volume["name"])
    assert volume == {"name": name, "defaultMode": 0o444}
    return name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_cluster_registry_reads_the_policy_of_a_hashed_configmap(k8s: Path, overlay: str) -> None:
    objects = render(k8s, overlay)
    name = retention_map(objects)
    assert re.fullmatch(r"pypi-retention-[a-z0-9]{10}", name), "a changed policy must roll the Deployment"
    config = objects["ConfigMap", "pypi-retention"]
    assert config["metadata"]["name"] == name
    assert config["data"] == {"retention.toml": CLUSTER.read_text()}
    parse_policy(config["data"]["retention.toml"], "pypi-retention")
    front_pod = with_container(objects, "front")
    assert "retention" not in mounts(containers(front_pod)["front"]), "the front needs no policy"
    if front_pod is not with_container(objects, "registry"):
        assert "retention" not in volumes(front_pod)


def test_a_changed_policy_renames_the_configmap(k8s: Path, tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(k8s, copy)
    policy = copy / "base/retention.toml"
    policy.write_text(policy.read_text().replace("keep-newest = 5 ", "keep-newest = 7 "))
    before, after = render(k8s, "local"), render(copy, "local")
    assert retention_map(after) != retention_map(before)
    changed = after["ConfigMap", "pypi-retention"]["data"]["retention.toml"]
    assert parse_policy(changed, "pypi-retention").keep_newest == 7
