"""The registry's Kubernetes manifests, rendered with `kubectl kustomize` and validated offline
against the Kubernetes schemas: no cluster, no engine."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from helperhub.core.errors import ConfigError
from helperhub.registry.embedded import add_user
from helperhub.registry.manifests import (
    HTPASSWD,
    PLACEHOLDER_DIGEST,
    in_cluster_index_url,
    overlays,
    render_overlay,
    set_image,
    write_manifests,
)

REPO = Path(__file__).resolve().parents[1]
K8S_DIR = REPO / "registry/k8s"
K8S_VERSION = "1.30.0"
OVERLAYS = ["local", "production"]

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@pytest.fixture(scope="module")
def k8s(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of registry/k8s without any local htpasswd: renders the same on every machine."""
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S_DIR, copy, ignore=shutil.ignore_patterns("htpasswd"))
    return copy


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request: pytest.FixtureRequest, k8s: Path) -> dict[str, dict[str, Any]]:
    """The rendered objects of one overlay, keyed by kind."""
    docs = [d for d in yaml.safe_load_all(render_overlay(k8s, request.param)) if d]
    by_kind = {d["kind"]: d for d in docs}
    assert len(by_kind) == len(docs), "one object per kind expected"
    return by_kind


def pod_spec(objects: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = objects["Deployment"]["spec"]["template"]["spec"]
    return spec


def test_overlays_are_found() -> None:
    assert overlays(K8S_DIR) == OVERLAYS


def test_every_object_is_valid_for_kubernetes(objects: dict[str, dict[str, Any]]) -> None:
    import kubernetes_validate

    assert set(objects) == {"Namespace", "Secret", "Service", "PersistentVolumeClaim", "Deployment", "NetworkPolicy"}
    for obj in objects.values():
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "helpers"


def test_pod_runs_restricted(objects: dict[str, dict[str, Any]]) -> None:
    spec = pod_spec(objects)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["securityContext"]["fsGroup"] == 10001
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = spec["containers"]
    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    assert objects["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_one_replica_recreated(objects: dict[str, dict[str, Any]]) -> None:
    spec = objects["Deployment"]["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def test_probes_hit_health(objects: dict[str, dict[str, Any]]) -> None:
    (container,) = pod_spec(objects)["containers"]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": 8080}
    assert [p["containerPort"] for p in container["ports"]] == [8080]


def test_startup_allows_a_rehash_before_liveness(objects: dict[str, dict[str, Any]]) -> None:
    """A lost hash record means hashing the whole volume before listening: the startup probe gives it
    minutes, where liveness alone would kill the pod after a minute and restart the rehash forever."""
    (container,) = pod_spec(objects)["containers"]
    startup, liveness = container["startupProbe"], container["livenessProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert "initialDelaySeconds" not in liveness


def test_volumes(objects: dict[str, dict[str, Any]]) -> None:
    spec = pod_spec(objects)
    (container,) = spec["containers"]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert mounts["packages"]["mountPath"] == "/data/packages"
    assert not mounts["packages"].get("readOnly", False)
    assert volumes["packages"]["persistentVolumeClaim"]["claimName"] == "helper-packages"
    assert objects["PersistentVolumeClaim"]["metadata"]["name"] == "helper-packages"
    assert objects["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert mounts["htpasswd"] == {"name": "htpasswd", "mountPath": "/etc/helperhub", "readOnly": True}
    assert volumes["htpasswd"]["secret"]["secretName"] == objects["Secret"]["metadata"]["name"]
    assert volumes["htpasswd"]["secret"]["items"] == [{"key": "htpasswd", "path": "htpasswd"}]
    assert mounts["tmp"]["mountPath"] == "/tmp"
    assert "emptyDir" in volumes["tmp"]


def quantity(text: str) -> int:
    units = {"Mi": 1 << 20, "Gi": 1 << 30}
    return int(text[:-2]) * units[text[-2:]]


def test_upload_limit_fits_on_the_volume(objects: dict[str, dict[str, Any]]) -> None:
    """Upload bodies stream onto the packages volume (not /tmp): the limit must fit the PVC."""
    spec = pod_spec(objects)
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    pvc = objects["PersistentVolumeClaim"]["spec"]["resources"]["requests"]["storage"]
    assert 4 * (int(env["HUB_REGISTRY_MAX_UPLOAD_MB"]) << 20) <= quantity(pvc)
    tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
    assert quantity(tmp["emptyDir"]["sizeLimit"]) < int(env["HUB_REGISTRY_MAX_UPLOAD_MB"]) << 20


def test_cluster_profile_uses_the_service() -> None:
    from helperhub.pipelines.profiles import load_profile

    assert load_profile("cluster").index_url == in_cluster_index_url()


def test_service_matches_in_cluster_url(objects: dict[str, dict[str, Any]]) -> None:
    url = urlsplit(in_cluster_index_url())
    assert url.geturl() == "http://pypi.helpers.svc.cluster.local:8080/simple/"
    service = objects["Service"]
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert url.hostname == host
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert port["port"] == url.port
    assert service["spec"]["selector"].items() <= pod_labels(objects).items()


def pod_labels(objects: dict[str, dict[str, Any]]) -> dict[str, str]:
    labels: dict[str, str] = objects["Deployment"]["spec"]["template"]["metadata"]["labels"]
    return labels


def test_images_pinned_by_digest(objects: dict[str, dict[str, Any]]) -> None:
    spec = pod_spec(objects)
    for container in spec["containers"] + spec.get("initContainers", []):
        name, _, digest = container["image"].partition("@")
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), container["image"]
        assert ":" not in name.rsplit("/", 1)[-1], f"{container['image']} carries a tag"
        assert not container["image"].endswith(":latest")


def test_secret_is_generated_without_credentials(objects: dict[str, dict[str, Any]]) -> None:
    secret = objects["Secret"]
    assert re.fullmatch(r"htpasswd-[a-z0-9]{10}", secret["metadata"]["name"]), "not from the secretGenerator"
    assert set(secret["data"]) == {"htpasswd"}
    assert base64.b64decode(secret["data"]["htpasswd"]) == b"", "a rendered placeholder must hold no login"


def test_a_real_htpasswd_is_rendered_into_the_secret(k8s: Path, tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(k8s, copy)
    add_user(copy / HTPASSWD, "release", "not-a-real-password")
    docs = {d["kind"]: d for d in yaml.safe_load_all(render_overlay(copy, "local")) if d}
    assert base64.b64decode(docs["Secret"]["data"]["htpasswd"]).decode() == (copy / HTPASSWD).read_text()
    volumes = {v["name"]: v for v in pod_spec(docs)["volumes"]}
    assert volumes["htpasswd"]["secret"]["secretName"] == docs["Secret"]["metadata"]["name"]


def test_no_htpasswd_is_committed() -> None:
    tracked = subprocess.run(["git", "ls-files", "registry/k8s"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    assert not any(Path(p).name == "htpasswd" for p in tracked)
    ignored = subprocess.run(["git", "check-ignore", "-q", f"registry/k8s/{HTPASSWD}"], cwd=REPO)
    assert ignored.returncode == 0, "registry/k8s/base/htpasswd must be git-ignored"


def test_network_policy(objects: dict[str, dict[str, Any]]) -> None:
    policy = objects["NetworkPolicy"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels(objects).items()
    assert policy["policyTypes"] == ["Ingress"]
    sources = [rule["from"] for rule in policy["ingress"]]
    assert sources == [
        [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kubeflow"}}}],
        [{"podSelector": {"matchLabels": {"helperhub.io/role": "release"}}}],
    ]
    for rule in policy["ingress"]:
        assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]


def test_overlays_differ_where_they_should(k8s: Path) -> None:
    local, prod = ({d["kind"]: d for d in yaml.safe_load_all(render_overlay(k8s, o)) if d} for o in OVERLAYS)
    size = {k: o["PersistentVolumeClaim"]["spec"]["resources"]["requests"]["storage"]
            for k, o in zip(OVERLAYS, (local, prod), strict=True)}
    assert size == {"local": "1Gi", "production": "50Gi"}
    prod_res = pod_spec(prod)["containers"][0]["resources"]
    assert prod_res["requests"] == prod_res["limits"], "production runs with Guaranteed QoS"


def test_write_manifests(k8s: Path, tmp_path: Path) -> None:
    written = write_manifests(k8s, tmp_path / "out")
    assert [p.name for p in written] == ["local.yaml", "production.yaml"]
    assert written[0].read_text() == render_overlay(k8s, "local")
    assert not (k8s / HTPASSWD).exists(), "rendering must not create an htpasswd in the source tree"


def test_set_image_pins_a_pushed_digest(k8s: Path, tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(k8s, copy)
    ref = "registry.example:5000/helperhub-registry@sha256:" + "ab" * 32
    set_image(copy, "production", ref)
    rendered = yaml.safe_load_all(render_overlay(copy, "production"))
    (deployment,) = [d for d in rendered if d and d["kind"] == "Deployment"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == ref
    assert PLACEHOLDER_DIGEST in render_overlay(copy, "local")
    with pytest.raises(ConfigError, match="digest reference"):
        set_image(copy, "local", "registry.example:5000/helperhub-registry:2.4.2")


def test_unknown_overlay_is_a_clear_error(k8s: Path) -> None:
    with pytest.raises(ConfigError, match="choose one of"):
        render_overlay(k8s, "staging")
