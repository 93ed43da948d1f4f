"""Documents attached to an image in its OCI registry as OCI 1.1 artifacts: a manifest whose
``subject`` is the image, listed under the referrers tag schema's ``sha256-<hex>`` tag (an image
index of the image's referrers), since distribution v2 has no referrers API. Listing asks the
API first (``/v2/<repo>/referrers/<digest>``) and falls back to that tag.

Everything written is a function of its inputs (no time): attaching the same document again
changes no digest and no tag."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from helperhub.core.errors import EngineError
from helperhub.images import registry_api

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
DSSE_TYPE = "application/vnd.dsse.envelope.v1+json"
PROVENANCE_ARTIFACT = "application/vnd.in-toto+json"  # the artifact type of a signed statement
SBOM_ARTIFACT = "application/vnd.cyclonedx+json"
TITLE = "org.opencontainers.image.title"
# What distribution answers a manifest whose blob another writer of the same content is committing
# at that moment (two releases of one version attach the same documents at once): passing.
RACING = ("DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN")
RACE_WAITS = (0.2, 0.5, 1.0, 2.0)  # seconds before each new try
T = TypeVar("T")


@dataclass(frozen=True)
class Referrer:
    """One artifact attached to an image: its manifest digest, type and annotations."""

    digest: str
    artifact_type: str
    annotations: dict[str, str]


def referrers_tag(digest: str) -> str:
    """The tag schema's tag of a subject: ``sha256:<hex>`` -> ``sha256-<hex>``."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}"


def _racing(write: Callable[[], T]) -> T:
    """``write`` (blobs, then a manifest that names them), tried again while it only lost a race
    with a concurrent writer of the same content."""
    for wait in RACE_WAITS:
        try:
            return write()
        except registry_api.Failure as exc:
            if not any(code in str(exc) for code in RACING):
                raise
            time.sleep(wait)
    return write()


def _fail(exc: registry_api.Failure) -> EngineError:
    return EngineError(f"{exc}; check that the OCI registry is up (`make engine`)")


def artifact_manifest(subject: dict[str, Any], artifact_type: str, layer: dict[str, Any],
                      annotations: dict[str, str]) -> bytes:
    """The OCI 1.1 artifact manifest of one document (``layer``) about ``subject``."""
    manifest = {
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE, "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_TYPE, "digest": registry_api.digest_of(EMPTY), "size": len(EMPTY)},
        "layers": [layer], "subject": subject, "annotations": dict(sorted(annotations.items())),
    }
    return json.dumps(manifest, indent=2, sort_keys=True).encode()


def attach(repository: str, subject_digest: str, artifact_type: str, document: bytes, media_type: str,
           annotations: dict[str, str]) -> str:
    """Attach ``document`` to ``repository@subject_digest``; the artifact's manifest digest. The
    referrers tag lists it afterwards (kept sorted, each artifact once)."""
    host, _, repo = repository.partition("/")
    try:
        found = registry_api.get_manifest(f"{repository}@{subject_digest}")
        if found is None:
            raise EngineError(f"{repository}@{subject_digest} is not in the OCI registry; push the image first")
        subject = {"mediaType": found[0], "digest": subject_digest, "size": len(found[1])}
        doc_digest = registry_api.digest_of(document)
        layer = {"mediaType": media_type, "digest": doc_digest, "size": len(document),
                 "annotations": {TITLE: annotations.get(TITLE, "document")}}
        body = artifact_manifest(subject, artifact_type, layer, annotations)
        digest = registry_api.digest_of(body)

        def store() -> str:
            registry_api.upload_blob(host, repo, registry_api.digest_of(EMPTY), EMPTY, len(EMPTY))
            registry_api.upload_blob(host, repo, doc_digest, document, len(document))
            return registry_api.put_manifest(f"{repository}@{digest}", MANIFEST_TYPE, body)

        _racing(store)
        entry = {"mediaType": MANIFEST_TYPE, "digest": digest, "size": len(body), "artifactType": artifact_type,
                 "annotations": dict(sorted(annotations.items()))}
        _racing(lambda: _list_in_tag(repository, subject_digest, entry))
    except registry_api.Failure as exc:
        raise _fail(exc) from None
    return digest


def _list_in_tag(repository: str, subject_digest: str, entry: dict[str, Any]) -> None:
    ref = f"{repository}:{referrers_tag(subject_digest)}"
    found = registry_api.get_manifest(ref)
    entries = json.loads(found[1]).get("manifests", []) if found else []
    if any(e.get("digest") == entry["digest"] for e in entries):
        return
    entries = sorted([*entries, entry], key=lambda e: str(e.get("digest")))
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": entries}
    registry_api.put_manifest(ref, INDEX_TYPE, json.dumps(index, indent=2, sort_keys=True).encode())


def referrers(repository: str, subject_digest: str, artifact_type: str | None = None) -> list[Referrer]:
    """The artifacts attached to ``repository@subject_digest`` (of ``artifact_type``, when given)."""
    host, _, repo = repository.partition("/")
    try:
        status, body, _ = registry_api.request(f"http://{host}/v2/{repo}/referrers/{subject_digest}",
                                               headers={"Accept": INDEX_TYPE})
        if status == 200:
            entries = json.loads(body).get("manifests", [])
        else:
            found = registry_api.get_manifest(f"{repository}:{referrers_tag(subject_digest)}")
            entries = json.loads(found[1]).get("manifests", []) if found else []
    except (registry_api.Failure, ValueError) as exc:
        raise EngineError(f"cannot list what is attached to {repository}@{subject_digest} ({exc})") from None
    found_refs = [Referrer(str(e.get("digest", "")), str(e.get("artifactType", "")), dict(e.get("annotations") or {}))
                  for e in entries]
    return [r for r in found_refs if artifact_type is None or r.artifact_type == artifact_type]


def artifact_document(repository: str, artifact_digest: str, subject_digest: str) -> bytes:
    """The document of an attached artifact, checked to name ``subject_digest`` as its subject (an
    entry of a referrers tag is only a claim) and to match its layer's digest."""
    host, _, repo = repository.partition("/")
    try:
        found = registry_api.get_manifest(f"{repository}@{artifact_digest}")
        if found is None or registry_api.digest_of(found[1]) != artifact_digest:
            raise EngineError(f"{repository}@{artifact_digest} is not in the OCI registry as listed")
        manifest = json.loads(found[1])
        if (manifest.get("subject") or {}).get("digest") != subject_digest or len(manifest.get("layers", [])) != 1:
            raise EngineError(f"{repository}@{artifact_digest} is not an artifact about {subject_digest}")
        layer = manifest["layers"][0]
        document = registry_api.get_blob(host, repo, str(layer["digest"]))
    except (registry_api.Failure, ValueError, KeyError, TypeError) as exc:
        raise EngineError(f"cannot read the artifact {repository}@{artifact_digest} ({exc})") from None
    if registry_api.digest_of(document) != layer["digest"]:
        raise EngineError(f"{repository}@{artifact_digest}: its document does not match its digest")
    return document
