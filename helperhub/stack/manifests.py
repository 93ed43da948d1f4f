"""The registry's Kubernetes manifests: kustomize overlays under registry/k8s, rendered offline.

Rendering goes through ``kubectl kustomize`` (kustomize is built into kubectl), so what the tests
validate is byte for byte what ``kubectl apply -k`` would send.
``helperhub registry manifests`` re-renders the fronts' committed nginx configs and writes
build/manifests/<overlay>.yaml (``make manifests``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from helperhub.core.defaults import (
    CLUSTER_MAX_UPLOAD_MB,
    CLUSTER_NAMESPACE,
    CLUSTER_REGISTRY_PORT,
    CLUSTER_REGISTRY_SERVICE,
    CLUSTER_SERVICE,
    MAX_UPLOAD_MB,
    REGISTRY_PORT,
)
from helperhub.core.errors import ConfigError
from helperhub.core.fs import atomic_write_text
from helperhub.registry.server.upload import FORM_SLACK
from helperhub.stack.front import FrontSettings, render_nginx_conf

K8S_DIR = Path("registry/k8s")  # in the repository: base/ and overlays/ of kustomize
SERVICE, NAMESPACE, PORT = CLUSTER_SERVICE, CLUSTER_NAMESPACE, REGISTRY_PORT  # as in k8s/base
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
HTPASSWD = Path("base/htpasswd")  # git-ignored; the secretGenerator's source
# git-ignored too, the Secret pypi-webhooks' sources: the --webhooks file and its hooks' secrets
WEBHOOKS, WEBHOOKS_ENV = Path("base/webhooks.toml"), Path("base/webhooks.env")
LOCAL_INPUTS = (HTPASSWD, WEBHOOKS, WEBHOOKS_ENV)  # rendered empty where missing
ADD_USER = "`.venv/bin/helperhub registry add-user release --htpasswd registry/k8s/base/htpasswd`"
REGISTRY_IMAGE, FRONT_IMAGE = "helperhub-registry", "helperhub-front"  # names in the overlays' images:
PIN = {
    REGISTRY_IMAGE: "`make registry-image OVERLAY={overlay}`",
    FRONT_IMAGE: "`.venv/bin/helperhub registry manifests --front-image <repo@sha256:...> --overlay {overlay}`",
}

# The front in the pod: the paths it mounts, and where it finds the registry.
POD_PACKAGES, POD_NGINX_STATE = Path("/data/packages"), Path("/tmp/nginx")
FRONT_CONF = "front.conf"  # beside the kustomization whose configMapGenerator reads it
SIDECAR_APP = f"127.0.0.1:{CLUSTER_REGISTRY_PORT}"  # the registry container in the same pod
SHARED_APP = f"{CLUSTER_REGISTRY_SERVICE}:{CLUSTER_REGISTRY_PORT}"  # overlays/shared-volume: its Service


@dataclass(frozen=True)
class FrontConf:
    """A committed front config: the folder under registry/k8s it lives in, and what it is for."""

    folder: str
    max_upload_mb: int  # the registry's HUB_REGISTRY_MAX_UPLOAD_MB in the same kustomization
    app: str  # host:port the front proxies uploads to


FRONT_CONFS = (
    FrontConf("base", CLUSTER_MAX_UPLOAD_MB, SIDECAR_APP),
    FrontConf("overlays/production", MAX_UPLOAD_MB, SIDECAR_APP),
    FrontConf("overlays/shared-volume", MAX_UPLOAD_MB, SHARED_APP),
)


def front_body_limit(max_upload_mb: int) -> str:
    """nginx's client_max_body_size for a registry limit: the file plus the form around it, the
    very size past which the registry refuses a declared body (helperhub/registry/server/upload.py), so
    the front neither refuses what the registry takes nor passes on what it would refuse."""
    limit = (max_upload_mb << 20) + FORM_SLACK
    return f"{limit >> 20}m" if limit % (1 << 20) == 0 else str(limit)


def front_settings(max_upload_mb: int, app: str) -> FrontSettings:
    """The front as its pod runs it: on the Service's port, with the volume and the emptyDir
    where the manifests mount them."""
    return FrontSettings(f"0.0.0.0:{REGISTRY_PORT}", POD_PACKAGES, POD_NGINX_STATE, app=app,
                         max_body=front_body_limit(max_upload_mb))


def k8s_front_conf(max_upload_mb: int, app: str) -> str:
    """The front's nginx.conf in a pod, as committed beside a kustomization (its ConfigMap's source)."""
    return (f"# Rendered by helperhub.stack.manifests.k8s_front_conf: uploads up to {max_upload_mb} MB plus\n"
            f"# the form, proxied to {app}. `make manifests` re-renders it; a test keeps it in sync.\n"
            + render_nginx_conf(front_settings(max_upload_mb, app)))


def refresh_front_confs(k8s_dir: Path) -> list[Path]:
    """Re-render the committed front configs so the manifests carry the current front; the
    ones that changed (commit them)."""
    changed = []
    for conf in FRONT_CONFS:
        folder = k8s_dir / conf.folder
        if not (folder / "kustomization.yaml").is_file():
            continue
        path, text = folder / FRONT_CONF, k8s_front_conf(conf.max_upload_mb, conf.app)
        if not path.is_file() or path.read_text() != text:
            atomic_write_text(path, text)
            changed.append(path)
    return changed


def in_cluster_index_url(service: str = SERVICE, namespace: str = NAMESPACE, port: int = PORT) -> str:
    """The simple index as pods in the cluster reach it (what KFP components pass to pip)."""
    return f"http://{service}.{namespace}.svc.cluster.local:{port}/simple/"


def overlays(k8s_dir: Path) -> list[str]:
    return sorted(p.parent.name for p in (k8s_dir / "overlays").glob("*/kustomization.yaml"))


def _kustomize(path: Path) -> str:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise ConfigError("kubectl is not on PATH; install kubectl >= 1.27 (it embeds kustomize) to render manifests")
    proc = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        raise ConfigError(f"`kubectl kustomize {path}` failed: {last}")
    return proc.stdout


def render_overlay(k8s_dir: Path, overlay: str) -> str:
    """The overlay's objects as one YAML stream.

    Without the git-ignored htpasswd, a temp copy gets an EMPTY one (a registry that accepts no
    upload), and without the webhooks files empty ones (no hooks), so rendering works on a fresh
    clone without ever writing credentials into the repo."""
    known = overlays(k8s_dir)
    if overlay not in known:
        raise ConfigError(f"no overlay {overlay!r} in {k8s_dir}/overlays; choose one of {known}")
    absent = [path for path in LOCAL_INPUTS if not (k8s_dir / path).is_file()]
    if not absent:
        return _kustomize(k8s_dir / "overlays" / overlay)
    with tempfile.TemporaryDirectory(prefix="k8s-") as tmp:
        copy = Path(tmp, "k8s")
        shutil.copytree(k8s_dir, copy)
        for path in absent:
            (copy / path).write_text("")
        return _kustomize(copy / "overlays" / overlay)


def write_manifests(k8s_dir: Path, out_dir: Path) -> list[Path]:
    """Render every overlay to ``out_dir/<overlay>.yaml``, each file written atomically and 0600:
    it holds the htpasswd and webhooks Secrets."""
    written = []
    for overlay in overlays(k8s_dir):
        path = out_dir / f"{overlay}.yaml"
        atomic_write_text(path, render_overlay(k8s_dir, overlay), mode=0o600)
        written.append(path)
    if not written:
        raise ConfigError(f"{k8s_dir}/overlays has no overlay with a kustomization.yaml")
    return written


def pin_overlay_image(k8s_dir: Path, overlay: str, ref: str, image: str = REGISTRY_IMAGE) -> Path:
    """Pin ``repo@sha256:...`` in the overlay's ``images:`` entry of ``image`` (its newName and
    digest lines), leaving the other entries and every comment as they are."""
    match = re.fullmatch(r"([^@\s]+)@(sha256:[0-9a-f]{64})", ref)
    if match is None:
        raise ConfigError(
            f"{ref!r} is not a digest reference (repo@sha256:<64 hex>); pass what the image's push printed "
            "(`make registry-image` prints the registry's)"
        )
    path = k8s_dir / "overlays" / overlay / "kustomization.yaml"
    if not path.is_file():
        raise ConfigError(f"no overlay {overlay!r} in {k8s_dir}/overlays; choose one of {overlays(k8s_dir)}")
    text = path.read_text()
    start, end = _image_entry(path, text, image)
    entry = text[start:end]
    for key, value in (("newName", match[1]), ("digest", match[2])):
        entry, n = re.subn(rf"(?m)^(\s+{key}:)\s*\S+\s*$", rf"\g<1> {value}", entry)
        if n != 1:
            raise ConfigError(f"{path} must have exactly one `{key}:` line in the images: entry of {image} (found {n})")
    atomic_write_text(path, text[:start] + entry + text[end:])
    return path


def _image_entry(path: Path, text: str, image: str) -> tuple[int, int]:
    """Where the ``- name: <image>`` entry is: its line and the deeper-indented lines after it."""
    match = re.search(rf"(?m)^( *)- name: {re.escape(image)}[ \t]*$", text)
    if match is None:
        raise ConfigError(f"{path} has no `- name: {image}` entry under images:; add one with newName and digest")
    end = match.end()
    for line in text[end:].split("\n")[1:]:
        body = line.strip()
        if body and not body.startswith("#") and len(line) - len(line.lstrip(" ")) <= len(match[1]):
            break
        end += 1 + len(line)
    return match.start(), end


def placeholder_images(rendered: str) -> list[str]:
    """The images (by their name in the overlays) still pinned to the placeholder digest."""
    repos = re.findall(rf"(?m)^\s*image: (\S+)@{PLACEHOLDER_DIGEST}\s*$", rendered)
    return sorted({repo.rsplit("/", 1)[-1] for repo in repos})


def manifest_notes(k8s_dir: Path, written: list[Path]) -> list[str]:
    """What still needs doing before ``kubectl apply`` of the rendered files."""
    notes = [
        f"{path} has the placeholder digest of {image}; run "
        f"{PIN.get(image, 'a pin of its digest').format(overlay=path.stem)} before applying it"
        for path in written for image in placeholder_images(path.read_text())
    ]
    if not (k8s_dir / HTPASSWD).is_file():
        notes.append(f"{k8s_dir / HTPASSWD} is missing, so the Secret is empty and nobody can upload; "
                     f"create it with {ADD_USER}")
    return notes
