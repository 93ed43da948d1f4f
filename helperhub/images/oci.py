"""Ask an OCI (distribution v2) registry what a tag is, without a Docker engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from helperhub.core.errors import EngineError

IMAGE_TYPES = ("application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json")
# a multi-platform image: a Docker manifest list or an OCI image index (the same JSON shape)
INDEX_TYPES = ("application/vnd.docker.distribution.manifest.list.v2+json", "application/vnd.oci.image.index.v1+json")
ACCEPT = ", ".join((*INDEX_TYPES, *IMAGE_TYPES))
TIMEOUT = (3.0, 30.0)


@dataclass(frozen=True)
class RemoteImage:
    digest: str  # sha256:... (of the index, for a multi-platform image)
    labels: dict[str, str]  # a multi-platform image: the labels all its platforms agree on
    # platform ("linux/arm64") -> manifest digest: each of an index's; a manifest's own platform
    platforms: dict[str, str] = field(default_factory=dict)


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
    """The digest and labels of ``repository:reference`` (tag or digest); None if absent. An image
    index (a multi-platform image) gives its own digest, the labels its platforms' manifests agree
    on (one they disagree on, such as the base's name, is left out) and each platform's digest.
    Both kinds are accepted: docker-registry answers 404 when an index exists and the Accept
    header names only single-manifest types."""
    base, found = _lookup(repository, reference)
    if found is None:
        return None
    digest, media_type, manifest = found
    if media_type not in INDEX_TYPES:
        labels, own = _config(base, repository, reference, manifest)
        return RemoteImage(digest, labels, {own: digest})
    platforms: dict[str, str] = {}
    agreed: dict[str, str] | None = None
    for entry in manifest.get("manifests", []):
        platform = entry.get("platform") or {}
        inner = _manifest(base, repository, str(entry.get("digest", "")))
        if not platform.get("architecture") or inner is None or inner[1] in INDEX_TYPES:
            raise EngineError(f"{repository}:{reference} is an index with an entry that is no platform's "
                              "image; push the image again")
        platforms[f"{platform.get('os', 'linux')}/{platform['architecture']}"] = inner[0]
        labels, _ = _config(base, repository, inner[0], inner[2])
        agreed = labels if agreed is None else {k: v for k, v in agreed.items() if labels.get(k) == v}
    return RemoteImage(digest, agreed or {}, platforms)


def _lookup(repository: str, reference: str) -> tuple[str, tuple[str, str, dict[str, Any]] | None]:
    """The repository's API base URL, and what ``_manifest`` finds for ``reference`` there."""
    host, path = split_repository(repository)
    base = f"http://{host}/v2/{path}"
    return base, _manifest(base, repository, reference)


def _manifest(base: str, repository: str, reference: str) -> tuple[str, str, dict[str, Any]] | None:
    """(digest, media type, document) of a manifest or index; None if absent."""
    resp = _get(f"{base}/manifests/{reference}", {"Accept": ACCEPT})
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise EngineError(f"{repository}:{reference}: the OCI registry answered {resp.status_code}")
    manifest: dict[str, Any] = resp.json()
    digest = resp.headers.get("Docker-Content-Digest", "")
    media_type = resp.headers.get("Content-Type", "").split(";")[0].strip() or str(manifest.get("mediaType", ""))
    if not digest:
        raise EngineError(f"{repository}:{reference}: the OCI registry named no digest for it")
    return digest, media_type, manifest


def _config(base: str, repository: str, reference: str, manifest: dict[str, Any]) -> tuple[dict[str, str], str]:
    """(labels, platform) of a single-platform manifest, from its config."""
    config_digest = manifest.get("config", {}).get("digest")
    if not config_digest:
        raise EngineError(f"{repository}:{reference} is neither an image index nor an image manifest")
    config = _get(f"{base}/blobs/{config_digest}").json()
    labels = dict((config.get("config") or {}).get("Labels") or {})
    return labels, f"{config.get('os', 'linux')}/{config.get('architecture', '')}"


def platform_manifests(repository: str, reference: str) -> tuple[str, dict[str, str]] | None:
    """What ``repository:reference`` names, as (its digest, platform -> single-platform manifest
    digest): an index lists each platform, a single manifest is its config's platform. None if absent."""
    base, found = _lookup(repository, reference)
    if found is None:
        return None
    digest, media_type, manifest = found
    if media_type in INDEX_TYPES:
        found_platforms = {}
        for entry in manifest.get("manifests", []):
            platform = entry.get("platform") or {}
            if platform.get("os") and platform.get("architecture"):
                found_platforms[f"{platform['os']}/{platform['architecture']}"] = str(entry["digest"])
        return digest, found_platforms
    return digest, {_config(base, repository, reference, manifest)[1]: digest}
