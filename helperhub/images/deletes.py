"""Deleting image manifests from an OCI registry by digest (retention's images): the manifest,
the documents attached to it (SBOM, provenance) and its referrers tag. Only manifests go; the
layers they leave unreferenced are the registry's own garbage collection, run with the registry
read-only (``make oci-gc`` for the local one)."""

from __future__ import annotations

from dataclasses import dataclass

from helperhub.core.errors import EngineError
from helperhub.images import registry_api
from helperhub.images.referrers import referrers, referrers_tag
from helperhub.registry.client import IndexSettings
from helperhub.registry.retention_client import images_deleted


@dataclass(frozen=True)
class ImageDeleted:
    ref: str
    deleted: bool  # False: the registry no longer had it (deleted before)


def delete_manifest(ref: str) -> bool:
    """DELETE ``HOST/REPO@sha256:...``: True when deleted, False when the registry has no such
    manifest; EngineError in one line when it refuses (deletes disabled, no such registry)."""
    host, repo, digest = registry_api.split(ref)
    if not digest.startswith("sha256:"):
        raise EngineError(f"{ref} names no digest; retention deletes images by digest only")
    try:
        status, body, _ = registry_api.request(f"http://{host}/v2/{repo}/manifests/{digest}", "DELETE")
    except registry_api.Failure as exc:
        raise EngineError(f"{exc}; start it (`make engine`) or give gc the right --oci-registry") from None
    if status in (200, 202):
        return True
    if status == 404:
        return False
    if status == 405:
        raise EngineError(f"the OCI registry at {host} does not allow deletes; set storage.delete.enabled: true "
                          "in its configuration (the local one of `make engine` has it) and run gc --apply again")
    raise EngineError(f"the OCI registry at {host} answered {status} to deleting {ref}: {body[:200]!r}")


def delete_image(ref: str) -> ImageDeleted:
    """Delete an image manifest (or index) with what is attached to it: each referrer's manifest,
    the referrers tag's index, then the manifest itself; an image already gone is no error."""
    host, repo, digest = registry_api.split(ref)
    repository = f"{host}/{repo}"
    attached = [r.digest for r in referrers(repository, digest) if r.digest.startswith("sha256:")]
    for artifact in attached:
        delete_manifest(f"{repository}@{artifact}")
    try:
        tag = registry_api.get_manifest(f"{repository}:{referrers_tag(digest)}")
    except registry_api.Failure as exc:
        raise EngineError(f"cannot read the referrers of {ref} ({exc})") from None
    if tag is not None:
        delete_manifest(f"{repository}@{registry_api.digest_of(tag[1])}")
    return ImageDeleted(ref, delete_manifest(ref))


@dataclass(frozen=True)
class ImageSweep:
    """What a gc --apply did in the OCI registry."""

    deleted: tuple[ImageDeleted, ...]
    elsewhere: tuple[str, ...]  # pending images at another registry than the one given: left pending


def delete_pending_images(index: IndexSettings, pending: list[dict[str, str]], oci_registry: str) -> ImageSweep:
    """Delete the images the index lists as pending that live at ``oci_registry`` and report each
    to the index as soon as it is gone, so a run cut short is finished by the next one."""
    deleted: list[ImageDeleted] = []
    elsewhere: list[str] = []
    for ref in sorted({str(p["ref"]) for p in pending}):
        if ref.split("/", 1)[0] != oci_registry:
            elsewhere.append(ref)
            continue
        deleted.append(delete_image(ref))
        images_deleted(index, [ref])
    return ImageSweep(tuple(deleted), tuple(elsewhere))
