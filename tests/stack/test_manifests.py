"""The registry's Kubernetes manifests, rendered with `kubectl kustomize` and validated offline
against the Kubernetes schemas: no cluster, no engine. The sidecar overlays (local, production)
run the nginx front and the registry in one pod; shared-volume runs N fronts and one registry."""

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
from helperhub.registry.server.upload import FORM_SLACK
from helperhub.stack.embedded import add_user
from helperhub.stack.manifests import (
    FRONT_CONF,
    FRONT_CONFS,
    FRONT_IMAGE,
    HTPASSWD,
    PLACEHOLDER_DIGEST,
    front_body_limit,
    in_cluster_index_url,
    k8s_front_conf,
    manifest_notes,
    overlays,
    pin_overlay_image,
    refresh_front_confs,
    render_overlay,
    write_manifests,
)
from tests.conftest import REPO

K8S_DIR = REPO / "registry/k8s"
K8S_VERSION = "1.30.0"
OVERLAYS = ["local", "production", "shared-volume"]
SIDECAR = ["local", "production"]
Objects = dict[tuple[str, str], dict[str, Any]]  # (kind, name) -> object; generated names without their hash

needs_kubectl = pytest.mark.usefixtures("kubectl")  # skipped without it, a failure under CI=true


def render(k8s: Path, overlay: str) -> Objects:
    docs = [d for d in yaml.safe_load_all(render_overlay(k8s, overlay)) if d]
    objects = {(d["kind"], re.sub(r"-[a-z0-9]{10}$", "", d["metadata"]["name"])
                if d["kind"] in ("ConfigMap", "Secret") else d["metadata"]["name"]): d for d in docs}
    assert len(objects) == len(docs), "one object per kind and name expected"
    return objects


@pytest.fixture(scope="module")
def k8s(tmp_path_factory: pytest.TempPathFactory, kubectl: str) -> Path:
    """A copy of registry/k8s without any local htpasswd: renders the same on every machine."""
    copy = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S_DIR, copy, ignore=shutil.ignore_patterns("htpasswd", "webhooks.toml", "webhooks.env"))
    return copy


@pytest.fixture(scope="module")
def rendered(k8s: Path) -> dict[str, Objects]:
    return {overlay: render(k8s, overlay) for overlay in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def objects(request: pytest.FixtureRequest, rendered: dict[str, Objects]) -> Objects:
    return rendered[request.param]


@pytest.fixture(params=SIDECAR)
def sidecar(request: pytest.FixtureRequest, rendered: dict[str, Objects]) -> Objects:
    return rendered[request.param]


@pytest.fixture
def shared(rendered: dict[str, Objects]) -> Objects:
    return rendered["shared-volume"]


def deployments(objects: Objects) -> list[dict[str, Any]]:
    return [o for (kind, _), o in sorted(objects.items()) if kind == "Deployment"]


def pod_spec(deployment: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    return spec


def pod_labels(deployment: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = deployment["spec"]["template"]["metadata"]["labels"]
    return labels


def containers(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in pod_spec(deployment)["containers"]}


def with_container(objects: Objects, name: str) -> dict[str, Any]:
    """The one Deployment that runs container ``name`` (registry or front)."""
    (deployment,) = [d for d in deployments(objects) if name in containers(d)]
    return deployment


def mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["name"]: m for m in container["volumeMounts"]}


def volumes(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in pod_spec(deployment)["volumes"]}


def env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


def front_conf(objects: Objects) -> str:
    """The nginx.conf the front container runs: its ConfigMap, found through the pod's volume."""
    name = volumes(with_container(objects, "front"))["front-conf"]["configMap"]["name"]
    (conf,) = [o["data"]["nginx.conf"] for (kind, _), o in objects.items()
               if kind == "ConfigMap" and o["metadata"]["name"] == name]
    return str(conf)


def location(conf: str, match: str) -> str:
    """The body of ``location <match> { ... }`` (nginx's locations here hold no nested braces)."""
    found = re.search(rf"location {re.escape(match)} \{{(.*?)\n    \}}", conf, re.S)
    assert found, f"no location {match} in the front's config"
    return found[1]


def directive(conf: str, name: str) -> list[str]:
    return re.findall(rf"(?m)(?:^|[{{\s]){name} ([^;]+);", conf)


def proxied_to(conf: str) -> set[str]:
    """Every host:port the config proxies to, through an upstream block or not."""
    upstreams = dict(re.findall(r"upstream (\w+) \{\s*server ([^;\s]+);\s*\}", conf))
    targets = {re.split(r"[/$]", p.removeprefix("http://"), maxsplit=1)[0] for p in directive(conf, "proxy_pass")}
    return {upstreams.get(t, t) for t in targets}


def quantity(text: str) -> int:
    units = {"Mi": 1 << 20, "Gi": 1 << 30}
    return int(text[:-2]) * units[text[-2:]]


def size(text: str) -> int:
    """An nginx size (``257m``, ``8g``, bytes)."""
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    return int(text[:-1]) * units[text[-1].lower()] if text[-1].isalpha() else int(text)


def spools_chunked_uploads(conf: str) -> bool:
    """Whether nginx writes a chunked upload body to its temp folder before proxying it: unless it
    streams (`proxy_request_buffering off`) over HTTP/1.1 to the registry (tests/test_k8s_front.py
    checks this against a real nginx)."""
    upload = location(conf, "/")
    return not ("proxy_request_buffering off;" in upload and "proxy_http_version 1.1;" in upload)


def test_overlays_are_found() -> None:
    assert overlays(K8S_DIR) == OVERLAYS


def test_committed_front_confs_are_the_rendered_ones() -> None:
    assert [c.folder for c in FRONT_CONFS] == ["base"] + [f"overlays/{o}" for o in OVERLAYS if o != "local"]
    for conf in FRONT_CONFS:
        committed = (K8S_DIR / conf.folder / FRONT_CONF).read_text()
        assert committed == k8s_front_conf(conf.max_upload_mb, conf.app), f"run `make manifests` ({conf.folder})"


def test_front_body_limit_is_the_registry_limit_plus_the_form() -> None:
    assert FORM_SLACK == 1 << 20
    assert (front_body_limit(256), front_body_limit(8192)) == ("257m", "8193m")
    assert size(front_body_limit(1)) == (1 << 20) + FORM_SLACK


@needs_kubectl
def test_every_object_is_valid_for_kubernetes(objects: Objects) -> None:
    import kubernetes_validate

    kinds = {"Namespace", "Secret", "ConfigMap", "Service", "PersistentVolumeClaim", "Deployment", "NetworkPolicy"}
    assert {kind for kind, _ in objects} in (kinds, kinds | {"PodDisruptionBudget"})
    for obj in objects.values():
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "helpers"
            assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "helperhub"


def test_every_pod_runs_restricted(objects: Objects) -> None:
    assert objects["Namespace", "helpers"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for deployment in deployments(objects):
        spec = pod_spec(deployment)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["securityContext"]["fsGroup"] == 10001
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001, container["name"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), container["name"]


def test_sidecar_pod_runs_front_and_registry(sidecar: Objects) -> None:
    (deployment,) = deployments(sidecar)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    pod = containers(deployment)
    assert set(pod) == {"registry", "front"}
    assert pod["registry"]["args"] == ["--port", "8081", "--owners", "/etc/helperhub-owners/owners.toml"]
    assert [p["containerPort"] for p in pod["registry"]["ports"]] == [8081]
    assert pod["front"]["command"] == ["nginx", "-c", "/etc/helperhub/nginx.conf", "-e", "stderr"]
    assert [(p["name"], p["containerPort"]) for p in pod["front"]["ports"]] == [("http", 8080)]


def test_registry_probes_hit_its_health(objects: Objects) -> None:
    registry = containers(with_container(objects, "registry"))["registry"]
    (port,) = registry["ports"]
    assert registry["args"][registry["args"].index("--port") + 1] == str(port["containerPort"])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert registry[probe]["httpGet"] == {"path": "/health", "port": port["name"]}


def test_registry_reads_the_owners_file_of_a_configmap(objects: Objects) -> None:
    """Every layout passes --owners a file the owners ConfigMap provides, and that ConfigMap is the
    committed owners.toml (a valid owners file), named without a hash so edits reach the pod in place."""
    from helperhub.registry.server.owners import parse_owners

    deployment = with_container(objects, "registry")
    registry = containers(deployment)["registry"]
    path = Path(registry["args"][registry["args"].index("--owners") + 1])
    (mount,) = [m for m in registry["volumeMounts"] if path.parent == Path(m["mountPath"])]
    assert mount["readOnly"] is True
    volume = next(v for v in pod_spec(deployment)["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "pypi-owners"  # no hash suffix
    owners = objects[("ConfigMap", "pypi-owners")]
    assert owners["data"][path.name] == (K8S_DIR / "base" / "owners.toml").read_text()
    parse_owners(owners["data"][path.name], path.name)  # raises on a malformed file


def test_startup_allows_a_rehash_before_liveness(objects: Objects) -> None:
    """A lost hash record means hashing the whole volume before listening: the startup probe gives it
    minutes, where liveness alone would kill the pod after a minute and restart the rehash forever."""
    registry = containers(with_container(objects, "registry"))["registry"]
    startup, liveness = registry["startupProbe"], registry["livenessProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 300
    assert "initialDelaySeconds" not in liveness


def test_reads_do_not_depend_on_the_registry(objects: Objects) -> None:
    """The front's probes touch nothing the front proxies, so a registry restart cannot fail them;
    where the front shares its pod with the registry (not Ready while the registry restarts), the
    Service still routes to it."""
    front_pod = with_container(objects, "front")
    front = containers(front_pod)["front"]
    assert "startupProbe" not in front
    assert front["readinessProbe"]["httpGet"] == {"path": "/simple/", "port": "http"}
    assert front["livenessProbe"]["tcpSocket"] == {"port": "http"}
    simple = location(front_conf(objects), "= /simple/")
    assert "try_files /index.html =404;" in simple and "proxy_pass" not in simple
    service = objects["Service", "pypi"]["spec"]
    sidecar = "registry" in containers(front_pod)
    assert service.get("publishNotReadyAddresses", False) is sidecar


def test_front_config_fits_its_pod(objects: Objects) -> None:
    front_pod = with_container(objects, "front")
    front, conf = containers(front_pod)["front"], front_conf(objects)
    assert directive(conf, "listen") == ["0.0.0.0:8080 backlog=4096"]
    assert mounts(front)["front-conf"]["mountPath"] + "/nginx.conf" == front["command"][2]
    assert mounts(front)["packages"] == {"name": "packages", "mountPath": "/data/packages", "readOnly": True}
    temps = {Path(p).parent for p in directive(conf, r"\w+_temp_path")}
    assert temps == {Path(mounts(front)["front-tmp"]["mountPath"])}
    assert "emptyDir" in volumes(front_pod)["front-tmp"]
    roots = {Path(r) for r in directive(conf, "root")}
    assert Path(mounts(front)["packages"]["mountPath"]) in roots
    assert all(r.is_relative_to(mounts(front)["packages"]["mountPath"]) for r in roots)
    registry_pod = with_container(objects, "registry")
    (registry_port,) = containers(registry_pod)["registry"]["ports"]
    if registry_pod is front_pod:
        app = f"127.0.0.1:{registry_port['containerPort']}"
    else:
        service = objects["Service", "pypi-registry"]["spec"]
        assert service["selector"].items() <= pod_labels(registry_pod).items()
        assert service["ports"][0]["targetPort"] == registry_port["name"]
        app = f"pypi-registry:{service['ports'][0]['port']}"
    assert proxied_to(conf) == {app}


def test_sidecar_volumes(sidecar: Objects) -> None:
    (deployment,) = deployments(sidecar)
    pod, vols = containers(deployment), volumes(deployment)
    registry, front = mounts(pod["registry"]), mounts(pod["front"])
    assert registry["packages"]["mountPath"] == "/data/packages"
    assert not registry["packages"].get("readOnly", False)
    assert front["packages"]["readOnly"] is True
    assert vols["packages"]["persistentVolumeClaim"] == {"claimName": "helper-packages"}
    assert sidecar["PersistentVolumeClaim", "helper-packages"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert registry["htpasswd"] == {"name": "htpasswd", "mountPath": "/etc/helperhub", "readOnly": True}
    assert "htpasswd" not in front, "the front needs no login"
    assert vols["htpasswd"]["secret"]["secretName"] == sidecar["Secret", "htpasswd"]["metadata"]["name"]
    assert vols["htpasswd"]["secret"]["items"] == [{"key": "htpasswd", "path": "htpasswd"}]
    assert registry["tmp"]["mountPath"] == "/tmp"
    assert "emptyDir" in vols["tmp"]


def test_front_config_comes_from_a_generated_config_map(objects: Objects, k8s: Path) -> None:
    """Generated with a content hash in its name, so a changed config rolls the pods."""
    name = volumes(with_container(objects, "front"))["front-conf"]["configMap"]["name"]
    assert re.fullmatch(r"pypi-front-[a-z0-9]{10}", name), "not from the configMapGenerator"
    assert set(objects["ConfigMap", "pypi-front"]["data"]) == {"nginx.conf"}
    committed = {(k8s / c.folder / FRONT_CONF).read_text() for c in FRONT_CONFS}
    assert front_conf(objects) in committed


def test_upload_limits_agree(objects: Objects) -> None:
    """One limit three times: the registry's, the front's body limit (the registry's plus the form
    around the file, see upload.py) and the room for a body on the volumes it may land on."""
    registry_pod, front_pod = with_container(objects, "registry"), with_container(objects, "front")
    limit = int(env(containers(registry_pod)["registry"])["HUB_REGISTRY_MAX_UPLOAD_MB"]) << 20
    conf = front_conf(objects)
    (body,) = [size(v) for v in directive(location(conf, "/"), "client_max_body_size")]
    assert body == limit + FORM_SLACK
    assert "proxy_request_buffering off;" in location(conf, "/")
    # the registry streams a body onto the packages volume, never into /tmp
    pvc = objects["PersistentVolumeClaim", "helper-packages"]["spec"]["resources"]["requests"]["storage"]
    assert 4 * limit <= quantity(pvc)
    assert quantity(volumes(registry_pod)["tmp"]["emptyDir"]["sizeLimit"]) < limit
    # the front spools a chunked body into its temp folder unless it streams it over HTTP/1.1
    front_tmp = quantity(volumes(front_pod)["front-tmp"]["emptyDir"]["sizeLimit"])
    if spools_chunked_uploads(conf):
        assert front_tmp >= body + (32 << 20)
    for deployment in deployments(objects):
        limits = [c["resources"]["limits"].get("ephemeral-storage") for c in pod_spec(deployment)["containers"]]
        if all(limits):  # a pod-wide limit: the emptyDirs must fit in it
            empty = sum(quantity(v["emptyDir"]["sizeLimit"]) for v in volumes(deployment).values() if "emptyDir" in v)
            assert empty < sum(quantity(q) for q in limits if q), deployment["metadata"]["name"]


def test_production_raises_the_limit_everywhere(rendered: dict[str, Objects]) -> None:
    for overlay, mb, body in (("local", 256, "257m"), ("production", 8192, "8193m"), ("shared-volume", 8192, "8193m")):
        objects = rendered[overlay]
        assert env(containers(with_container(objects, "registry"))["registry"])["HUB_REGISTRY_MAX_UPLOAD_MB"] == str(mb)
        assert directive(front_conf(objects), "client_max_body_size") == [body]


def test_cluster_profile_uses_the_service() -> None:
    from helperhub.pipelines.profiles import load_profile

    assert load_profile("cluster").index_url == in_cluster_index_url()


def test_service_matches_in_cluster_url(objects: Objects) -> None:
    url = urlsplit(in_cluster_index_url())
    assert url.geturl() == "http://pypi.helpers.svc.cluster.local:8080/simple/"
    service = objects["Service", "pypi"]
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert url.hostname == host
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert port["port"] == url.port and port["targetPort"] == "http"
    selected = [d for d in deployments(objects) if service["spec"]["selector"].items() <= pod_labels(d).items()]
    assert selected == [with_container(objects, "front")], "the Service reaches the fronts, and only them"


def test_images_pinned_by_digest(objects: Objects) -> None:
    images = set()
    for deployment in deployments(objects):
        spec = pod_spec(deployment)
        for container in spec["containers"] + spec.get("initContainers", []):
            name, _, digest = container["image"].partition("@")
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digest), container["image"]
            assert ":" not in name.rsplit("/", 1)[-1], f"{container['image']} carries a tag"
            images.add(name.rsplit("/", 1)[-1])
    assert images == {"helperhub-registry", "helperhub-front"}


def test_secret_is_generated_without_credentials(objects: Objects) -> None:
    secret = objects["Secret", "htpasswd"]
    assert re.fullmatch(r"htpasswd-[a-z0-9]{10}", secret["metadata"]["name"]), "not from the secretGenerator"
    assert set(secret["data"]) == {"htpasswd"}
    assert base64.b64decode(secret["data"]["htpasswd"]) == b"", "a rendered placeholder must hold no login"
    for deployment in deployments(objects):
        uses = volumes(deployment).get("htpasswd", {}).get("secret", {}).get("secretName")
        assert uses == (secret["metadata"]["name"] if "registry" in containers(deployment) else None)


@needs_kubectl
def test_a_real_htpasswd_is_rendered_into_the_secret(k8s: Path, tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(k8s, copy)
    add_user(copy / HTPASSWD, "release", "not-a-real-password")
    for overlay in ("local", "shared-volume"):
        objects = render(copy, overlay)
        secret = objects["Secret", "htpasswd"]
        assert base64.b64decode(secret["data"]["htpasswd"]).decode() == (copy / HTPASSWD).read_text()
        registry_pod = with_container(objects, "registry")
        assert volumes(registry_pod)["htpasswd"]["secret"]["secretName"] == secret["metadata"]["name"]


def test_no_htpasswd_is_committed() -> None:
    tracked = subprocess.run(["git", "ls-files", "registry/k8s"], cwd=REPO, capture_output=True, text=True,
                             check=True).stdout.split()
    assert not any(Path(p).name == "htpasswd" for p in tracked)
    ignored = subprocess.run(["git", "check-ignore", "-q", f"registry/k8s/{HTPASSWD}"], cwd=REPO)
    assert ignored.returncode == 0, "registry/k8s/base/htpasswd must be git-ignored"


CLIENTS = [
    [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kubeflow"}}}],
    [{"podSelector": {"matchLabels": {"helperhub.io/role": "release"}}}],
]


def test_clients_reach_the_fronts_only(objects: Objects) -> None:
    """KFP pods and release pods may connect to the front's 8080, to nothing else; where the
    registry has pods of its own, only the fronts may connect to it."""
    front_pod, registry_pod = with_container(objects, "front"), with_container(objects, "registry")
    policy = objects["NetworkPolicy", "pypi"]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels(front_pod).items()
    assert policy["policyTypes"] == ["Ingress"]
    assert [rule["from"] for rule in policy["ingress"]] == CLIENTS
    for rule in policy["ingress"]:
        assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    policies = {name for kind, name in objects if kind == "NetworkPolicy"}
    if registry_pod is front_pod:
        assert policies == {"pypi"}
        return
    assert policies == {"pypi", "pypi-registry"}
    assert not policy["podSelector"]["matchLabels"].items() <= pod_labels(registry_pod).items()
    inner = objects["NetworkPolicy", "pypi-registry"]["spec"]
    assert inner["podSelector"]["matchLabels"].items() <= pod_labels(registry_pod).items()
    assert inner["policyTypes"] == ["Ingress"]
    (rule,) = inner["ingress"]
    (source,) = rule["from"]
    assert set(source) == {"podSelector"}, "from this namespace's pods only"
    assert source["podSelector"]["matchLabels"].items() <= pod_labels(front_pod).items()
    assert not source["podSelector"]["matchLabels"].items() <= pod_labels(registry_pod).items()
    assert rule["ports"] == [{"protocol": "TCP", "port": 8081}]


def test_shared_volume_scales_read_only_fronts(shared: Objects) -> None:
    assert shared["PersistentVolumeClaim", "helper-packages"]["spec"]["accessModes"] == ["ReadWriteMany"]
    registry_pod, front_pod = with_container(shared, "registry"), with_container(shared, "front")
    assert set(containers(registry_pod)) == {"registry"} and set(containers(front_pod)) == {"front"}
    assert registry_pod["spec"]["replicas"] == 1
    assert registry_pod["spec"]["strategy"] == {"type": "Recreate"}
    assert not mounts(containers(registry_pod)["registry"])["packages"].get("readOnly", False)
    replicas = front_pod["spec"]["replicas"]
    assert replicas >= 3
    assert front_pod["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
    claim = volumes(front_pod)["packages"]["persistentVolumeClaim"]
    assert claim == {"claimName": "helper-packages", "readOnly": True}
    assert set(volumes(front_pod)) == {"packages", "front-conf", "front-tmp"}
    pdb = shared["PodDisruptionBudget", "pypi"]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= pod_labels(front_pod).items()
    assert pdb["maxUnavailable"] == 1 < replicas
    spread = {c["topologyKey"]: c for c in pod_spec(front_pod)["topologySpreadConstraints"]}
    assert set(spread) == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    for constraint in spread.values():
        assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels(front_pod).items()
        assert constraint["matchLabelKeys"] == ["pod-template-hash"]


def test_overlays_differ_where_they_should(rendered: dict[str, Objects]) -> None:
    sizes = {o: r["PersistentVolumeClaim", "helper-packages"]["spec"]["resources"]["requests"]["storage"]
             for o, r in rendered.items()}
    assert sizes == {"local": "1Gi", "production": "50Gi", "shared-volume": "50Gi"}
    for container in containers(deployments(rendered["production"])[0]).values():
        res = container["resources"]
        for kind in ("cpu", "memory"):
            assert res["requests"][kind] == res["limits"][kind], "production runs with Guaranteed QoS"


@needs_kubectl
def test_write_manifests(k8s: Path, tmp_path: Path) -> None:
    written = write_manifests(k8s, tmp_path / "out")
    assert [p.name for p in written] == [f"{o}.yaml" for o in OVERLAYS]
    assert written[0].read_text() == render_overlay(k8s, "local")
    assert not (k8s / HTPASSWD).exists(), "rendering must not create an htpasswd in the source tree"
    notes = manifest_notes(k8s, written)
    for path in written:
        for image in ("helperhub-registry", "helperhub-front"):
            assert any(n.startswith(f"{path} has the placeholder digest of {image};") for n in notes), (path, image)
    assert any("--front-image" in n and "--overlay shared-volume" in n for n in notes)


def test_refresh_front_confs_rewrites_only_stale_ones(tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S_DIR, copy, ignore=shutil.ignore_patterns("htpasswd", "webhooks.toml", "webhooks.env"))
    stale = copy / "overlays/production" / FRONT_CONF
    stale.write_text(stale.read_text().replace("8193m", "9m"))
    (copy / "base" / FRONT_CONF).unlink()
    assert sorted(refresh_front_confs(copy)) == sorted([copy / "base" / FRONT_CONF, stale])
    assert "client_max_body_size 8193m;" in stale.read_text()
    assert refresh_front_confs(copy) == []


@needs_kubectl
def test_pin_overlay_image_pins_a_pushed_digest(k8s: Path, tmp_path: Path) -> None:
    copy = tmp_path / "k8s"
    shutil.copytree(k8s, copy)
    ref = "registry.example:5000/helperhub-registry@sha256:" + "ab" * 32
    front = "mirror.example/team/helperhub-front@sha256:" + "cd" * 32
    before = (copy / "overlays/production/kustomization.yaml").read_text()
    pin_overlay_image(copy, "production", ref)
    after = (copy / "overlays/production/kustomization.yaml").read_text()
    assert after.count("\n") == before.count("\n") and after.count("#") == before.count("#")
    pin_overlay_image(copy, "production", front, image=FRONT_IMAGE)
    pod = containers(deployments(render(copy, "production"))[0])
    assert (pod["registry"]["image"], pod["front"]["image"]) == (ref, front)
    pin_overlay_image(copy, "shared-volume", front, image=FRONT_IMAGE)
    shared = render(copy, "shared-volume")
    assert containers(with_container(shared, "front"))["front"]["image"] == front
    assert PLACEHOLDER_DIGEST in containers(with_container(shared, "registry"))["registry"]["image"]
    assert PLACEHOLDER_DIGEST in render_overlay(copy, "local")
    with pytest.raises(ConfigError, match="digest reference"):
        pin_overlay_image(copy, "local", "registry.example:5000/helperhub-registry:2.4.2")
    with pytest.raises(ConfigError, match="no `- name: helperhub-nothing` entry"):
        pin_overlay_image(copy, "local", ref, image="helperhub-nothing")


@needs_kubectl
def test_unknown_overlay_is_a_clear_error(k8s: Path) -> None:
    with pytest.raises(ConfigError, match="choose one of"):
        render_overlay(k8s, "staging")


def test_catalog_snippets_name_the_in_cluster_index(objects: Objects) -> None:
    """The registry listens behind the front: its catalog pages must name the Service pods use."""
    registry = containers(with_container(objects, "registry"))["registry"]
    env = {e["name"]: e.get("value") for e in registry["env"]}
    assert env["HUB_REGISTRY_PUBLIC_URL"] + "/simple/" == in_cluster_index_url()
