"""Ask an OCI (distribution v2) registry what a tag is, without a Docker engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from helperhub.core.errors import EngineError

IMAGE_TYPES = ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json")
# a multi-platform image: a Docker manifest list or an OCI image index (the same JSON shape)
INDEX_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json")
MANIFEST_TYPES = ", ".join(IMAGE_TYPES)
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


def platform_manifests(repository: str, reference: str) -> tuple[str, dict[str, str]] | None:
    """What ``repository:reference`` names, as (its digest, platform -> single-platform manifest
    digest): an index lists each platform, a single manifest is its config's platform. None if absent."""
    host, path = split_repository(repository)
    base = f"http://{host}/v2/{path}"
    resp = _get(f"{base}/manifests/{reference}", {"Accept": ", ".join((*INDEX_TYPES, *IMAGE_TYPES))})
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise EngineError(f"{repository}:{reference}: the OCI registry answered {resp.status_code}")
    digest = resp.headers.get("Docker-Content-Digest", "")
    manifest: dict[str, Any] = resp.json()
    media_type = resp.headers.get("Content-Type", "").split(";")[0].strip() or str(manifest.get("mediaType", ""))
    if media_type in INDEX_TYPES:
        found = {}
        for entry in manifest.get("manifests", []):
            platform = entry.get("platform") or {}
            if platform.get("os") and platform.get("architecture"):
                found[f"{platform['os']}/{platform['architecture']}"] = str(entry["digest"])
        return digest, found
    config_digest = manifest.get("config", {}).get("digest")
    if not config_digest:
        raise EngineError(f"{repository}:{reference} is neither an image index nor an image manifest")
    config = _get(f"{base}/blobs/{config_digest}").json()
    return digest, {f"{config.get('os', 'linux')}/{config.get('architecture', '')}": digest}
