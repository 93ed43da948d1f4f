"""An image made by appending layers to another image through the registry API: no engine, no
emulation, nothing of the image run. The base is read (manifest and config), the new layers and
config uploaded, the base's layers mounted (one registry) or copied, and the manifest put.

Helper images of a foreign CPU (``foreign``) append their /opt/helpers to the platform's base;
environment images append the extra packages and the team's modules to a helper image."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from helperhub.core.errors import EngineError
from helperhub.core.fs import atomic_write_text
from helperhub.images import registry_api
from helperhub.images.layer import Layer, image_config, image_manifest
from helperhub.images.oci import split_repository

_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="helperhub-blobs")  # blobs pushed at once


@dataclass(frozen=True)
class BaseImage:
    """A single-platform image as the registry holds it."""

    ref: str  # HOST/REPO@sha256:... or HOST/REPO:TAG
    media_type: str
    manifest: dict[str, Any]
    config: dict[str, Any]

    @property
    def run(self) -> dict[str, Any]:
        """The config's runtime part (Env, User, Labels)."""
        return dict(self.config.get("config") or {})


def read_base(ref: str, cache: Path | None = None) -> BaseImage:
    """The manifest and config of ``ref``; one missing from its registry says how to get it.
    ``cache``: a folder where an image named by digest is kept (it never changes)."""
    kept = cache / f"{ref.rpartition('@')[2].removeprefix('sha256:')}.json" if cache and "@sha256:" in ref else None
    if kept is not None and kept.is_file():
        data = json.loads(kept.read_text())
        return BaseImage(ref, data["media_type"], data["manifest"], data["config"])
    try:
        found = registry_api.get_manifest(ref)
        if found is None:
            raise EngineError(f"the base {ref} is not in its registry; push it (`make engine`) or fix the target")
        media_type, body = found
        manifest = json.loads(body)
        host, path, _ = registry_api.split(ref)
        config = json.loads(registry_api.get_blob(host, path, manifest["config"]["digest"]))
    except registry_api.Failure as exc:
        raise EngineError(str(exc)) from None
    if kept is not None and registry_api.digest_of(body) == ref.rpartition("@")[2]:
        kept.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(kept, json.dumps({"media_type": media_type, "manifest": manifest, "config": config}),
                          durable=False)
    return BaseImage(ref, media_type, manifest, config)


@dataclass(frozen=True)
class NewLayer:
    """A packed layer (``layer.pack_layer``) and the gzip file holding it."""

    layer: Layer
    path: Path
    comment: str  # the config history's line for it


def appended(base: BaseImage, layers: Sequence[NewLayer], labels: Mapping[str, str],
             user: str) -> tuple[bytes, str, bytes]:
    """(config, manifest media type, manifest) of ``base`` with ``layers`` on top, ``labels``
    added and run as ``user``: pure, the same bytes for the same inputs."""
    config: dict[str, Any] = base.config
    media_type, manifest = base.media_type, base.manifest
    config_bytes = b""
    for new in layers:
        config_bytes = image_config(config, new.layer, labels, user, new.comment)
        media_type, body = image_manifest(media_type, manifest, config_bytes, new.layer)
        config, manifest = json.loads(config_bytes), json.loads(body)
    if not layers:
        raise EngineError("no layer to append; the base image is the image itself")
    return config_bytes, media_type, json.dumps(manifest, indent=2).encode()


def push_appended(base: BaseImage, ref: str, layers: Sequence[NewLayer], config: bytes, media_type: str,
                  manifest: bytes) -> str:
    """Push the appended image as ``ref`` (HOST/REPO:TAG or HOST/REPO@DIGEST); its manifest digest."""
    repository = ref.partition("@")[0] if "@" in ref else ref.rpartition(":")[0]
    host, path = split_repository(repository)
    base_host, base_path, _ = registry_api.split(base.ref)

    def upload(new: NewLayer) -> None:
        with new.path.open("rb") as fh:
            registry_api.upload_blob(host, path, new.layer.digest, fh, new.layer.size)

    # the blobs go up side by side (each mostly a HEAD that finds it there): one round trip's time
    jobs: list[Callable[[], None]] = [
        partial(registry_api.copy_blob, f"{base_host}/{base_path}", host, path, str(blob["digest"]))
        for blob in base.manifest.get("layers", [])]
    jobs += [partial(upload, new) for new in layers]
    jobs.append(partial(registry_api.upload_blob, host, path, registry_api.digest_of(config), config, len(config)))
    try:
        for done in [_POOL.submit(job) for job in jobs]:
            done.result()
        return registry_api.put_manifest(ref, media_type, manifest)  # after every blob it names
    except registry_api.Failure as exc:
        raise EngineError(f"pushing {ref}: {exc}") from None
