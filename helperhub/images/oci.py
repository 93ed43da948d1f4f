"""Ask an OCI (distribution v2) registry what a tag is, without a Docker engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from helperhub.core.errors import EngineError

MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])
TIMEOUT = (3.0, 30.0)


@dataclass(frozen=True)
class RemoteImage:
    digest: str  # sha256:...
    labels: dict[str, str]


def split_repository(repository: str) -> tuple[str, str]:
    """``127.0.0.1:5000/tabular-helpers`` -> (``127.0.0.1:5000``, ``tabular-helpers``)."""
    host, _, path = repository.partition("/")
    if not path:
        raise EngineError(f"image repository {repository!r} names no registry host; use HOST:PORT/NAME")
    return host, path


def _get(url: str, headers: dict[str, str] | None = None) -> requests.Response:
    try:
        return requests.get(url, headers=headers or {}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise EngineError(
            f"cannot reach the OCI registry at {url.split('/v2/')[0]} ({type(exc).__name__}); "
            "start it with `make engine` or set HUB_OCI_REGISTRY"
        ) from None


def registry_answers(registry: str) -> bool:
    try:
        return requests.get(f"http://{registry}/v2/", timeout=(1.0, 2.0)).status_code == 200
    except requests.RequestException:
        return False


def remote_image(repository: str, reference: str) -> RemoteImage | None:
    """The digest and labels of ``repository:reference`` (tag or digest); None if absent."""
    host, path = split_repository(repository)
    base = f"http://{host}/v2/{path}"
    resp = _get(f"{base}/manifests/{reference}", {"Accept": MANIFEST_TYPES})
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise EngineError(f"{repository}:{reference}: the OCI registry answered {resp.status_code}")
    digest = resp.headers.get("Docker-Content-Digest", "")
    manifest: dict[str, Any] = resp.json()
    config_digest = manifest.get("config", {}).get("digest")
    if not digest or not config_digest:
        raise EngineError(f"{repository}:{reference} has no single-platform image manifest")
    config = _get(f"{base}/blobs/{config_digest}").json()
    labels = (config.get("config") or {}).get("Labels") or {}
    return RemoteImage(digest, dict(labels))
