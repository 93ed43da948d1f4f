"""The registry's Kubernetes manifests: kustomize overlays under registry/k8s, rendered offline.

Rendering goes through ``kubectl kustomize`` (kustomize is built into kubectl), so what the tests
validate is byte for byte what ``kubectl apply -k`` would send.
``helperhub registry manifests`` writes build/manifests/<overlay>.yaml (``make manifests``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from helperhub.core.defaults import CLUSTER_NAMESPACE, CLUSTER_SERVICE, REGISTRY_PORT
from helperhub.core.errors import ConfigError
from helperhub.core.fs import atomic_write_text

K8S_DIR = Path("registry/k8s")  # in the repository: base/ and overlays/ of kustomize
SERVICE, NAMESPACE, PORT = CLUSTER_SERVICE, CLUSTER_NAMESPACE, REGISTRY_PORT  # as in k8s/base
PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
HTPASSWD = Path("base/htpasswd")  # git-ignored; the secretGenerator's source
ADD_USER = "`.venv/bin/helperhub registry add-user release --htpasswd registry/k8s/base/htpasswd`"


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
    upload), so rendering works on a fresh clone without ever writing credentials into the repo."""
    known = overlays(k8s_dir)
    if overlay not in known:
        raise ConfigError(f"no overlay {overlay!r} in {k8s_dir}/overlays; choose one of {known}")
    if (k8s_dir / HTPASSWD).is_file():
        return _kustomize(k8s_dir / "overlays" / overlay)
    with tempfile.TemporaryDirectory(prefix="k8s-") as tmp:
        copy = Path(tmp, "k8s")
        shutil.copytree(k8s_dir, copy)
        (copy / HTPASSWD).write_text("")
        return _kustomize(copy / "overlays" / overlay)


def write_manifests(k8s_dir: Path, out_dir: Path) -> list[Path]:
    """Render every overlay to ``out_dir/<overlay>.yaml``, each file written atomically and 0600:
    it holds the htpasswd Secret."""
    written = []
    for overlay in overlays(k8s_dir):
        path = out_dir / f"{overlay}.yaml"
        atomic_write_text(path, render_overlay(k8s_dir, overlay), mode=0o600)
        written.append(path)
    if not written:
        raise ConfigError(f"{k8s_dir}/overlays has no overlay with a kustomization.yaml")
    return written


def set_image(k8s_dir: Path, overlay: str, ref: str) -> Path:
    """Pin ``repo@sha256:...`` in the overlay's ``images:`` entry (its newName and digest lines)."""
    match = re.fullmatch(r"([^@\s]+)@(sha256:[0-9a-f]{64})", ref)
    if match is None:
        raise ConfigError(
            f"{ref!r} is not a digest reference (repo@sha256:<64 hex>); pass what `make registry-image` printed"
        )
    path = k8s_dir / "overlays" / overlay / "kustomization.yaml"
    if not path.is_file():
        raise ConfigError(f"no overlay {overlay!r} in {k8s_dir}/overlays; choose one of {overlays(k8s_dir)}")
    text = path.read_text()
    for key, value in (("newName", match[1]), ("digest", match[2])):
        text, n = re.subn(rf"(?m)^(\s+{key}:)\s*\S+\s*$", rf"\g<1> {value}", text)
        if n != 1:
            raise ConfigError(f"{path} must have exactly one `{key}:` line in its images: entry (found {n})")
    atomic_write_text(path, text)
    return path


def manifest_notes(k8s_dir: Path, written: list[Path]) -> list[str]:
    """What still needs doing before ``kubectl apply`` of the rendered files."""
    notes = [
        f"{path} has the placeholder image digest; run `make registry-image OVERLAY={path.stem}` before applying it"
        for path in written if PLACEHOLDER_DIGEST in path.read_text()
    ]
    if not (k8s_dir / HTPASSWD).is_file():
        notes.append(f"{k8s_dir / HTPASSWD} is missing, so the Secret is empty and nobody can upload; "
                     f"create it with {ADD_USER}")
    return notes
