"""Documents attached to an image as OCI 1.1 artifacts, in a real distribution v2 registry."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from helperhub.core.errors import EngineError
from helperhub.images import registry_api
from helperhub.images.referrers import (
    DSSE_TYPE,
    PROVENANCE_ARTIFACT,
    SBOM_ARTIFACT,
    TITLE,
    artifact_document,
    attach,
    referrers,
    referrers_tag,
)

pytestmark = pytest.mark.docker


def _push_image(oci: str, tag: str, content: bytes) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    buf.seek(0)
    return registry_api.push_rootfs(f"{oci}/referrers-test:{tag}", "amd64", buf)


def test_attach_lists_and_reads_back_idempotently(oci: str) -> None:
    digest = _push_image(oci, "one", b"one")
    repo = f"{oci}/referrers-test"
    first = attach(repo, digest, PROVENANCE_ARTIFACT, b'{"a": 1}', DSSE_TYPE, {TITLE: "one.provenance.json"})
    sbom = attach(repo, digest, SBOM_ARTIFACT, b'{"b": 2}', SBOM_ARTIFACT, {TITLE: "default.cdx.json"})
    tag_before = registry_api.get_manifest(f"{repo}:{referrers_tag(digest)}")
    again = attach(repo, digest, PROVENANCE_ARTIFACT, b'{"a": 1}', DSSE_TYPE, {TITLE: "one.provenance.json"})
    assert again == first
    assert registry_api.get_manifest(f"{repo}:{referrers_tag(digest)}") == tag_before  # nothing changed
    listed = referrers(repo, digest)
    assert sorted(r.digest for r in listed) == sorted([first, sbom])
    assert [r.digest for r in referrers(repo, digest, SBOM_ARTIFACT)] == [sbom]
    assert artifact_document(repo, first, digest) == b'{"a": 1}'
    manifest = json.loads(registry_api.get_manifest(f"{repo}@{first}")[1])  # type: ignore[index]
    assert manifest["subject"]["digest"] == digest and manifest["artifactType"] == PROVENANCE_ARTIFACT


def test_an_artifact_about_another_image_is_refused(oci: str) -> None:
    one, two = _push_image(oci, "a", b"a"), _push_image(oci, "b", b"b")
    repo = f"{oci}/referrers-test"
    about_one = attach(repo, one, SBOM_ARTIFACT, b"{}", SBOM_ARTIFACT, {})
    assert referrers(repo, two) == []
    with pytest.raises(EngineError, match="not an artifact about"):
        artifact_document(repo, about_one, two)
