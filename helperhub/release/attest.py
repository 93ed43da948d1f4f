"""A release says what is inside it and who built it: after the uploads, the wheel's and sdist's
signed provenance on the index (``<file>.provenance.json``); after each target's image push, the
target's SBOM and the image's signed provenance, attached to the image in the OCI registry and
the SBOM served by the index too (``/helpers/<name>/<version>/<target>.cdx.json``).

Every document is a function of the lock's pin and what the registries hold (no clock), and one
already attached is left as it is: a second release changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from helperhub.core.errors import EngineError
from helperhub.core.progress import Reporter
from helperhub.core.signing import SigningKey, envelope_bytes, sign_envelope
from helperhub.images.referrers import DSSE_TYPE, PROVENANCE_ARTIFACT, SBOM_ARTIFACT, TITLE, attach, referrers
from helperhub.lock.lockfile import PackagePin
from helperhub.registry.client import IndexSettings, attach_on_index, fetch_document, sbom_url
from helperhub.release.provenance import image_statement, sbom_name, statement_bytes, wheel_statement
from helperhub.release.sbom import build_sbom
from helperhub.release.sbom_inputs import SbomInputs, gather


def signed(statement: Mapping[str, Any], key: SigningKey) -> bytes:
    """The DSSE envelope of a statement, as stored and served."""
    return envelope_bytes(sign_envelope(statement_bytes(statement), key))


def attest_wheel(index: IndexSettings, pin: PackagePin, key: SigningKey, report: Reporter) -> None:
    """The signed provenance of the wheel and sdist of ``pin``, stored beside each on the index."""
    envelope = signed(wheel_statement(pin), key)
    for filename in filter(None, (pin.wheel, pin.sdist)):
        answer = attach_on_index(index, pin.name, pin.version, envelope, file=filename)
        if answer.endswith("stored"):
            report.info(f"{filename}: provenance signed by {key.public.keyid[:12]}")


def attest_image(index: IndexSettings, pin: PackagePin, target: str, bases: Mapping[str, str], key: SigningKey,
                 client: Any, report: Reporter, *, inputs: Callable[[], SbomInputs] | None = None,
                 cache: Path | None = None) -> bool:
    """The SBOM of ``target`` (its closure and the Debian packages of ``bases``: platform -> that
    platform's base) and the signed provenance of its image, attached to the image and the SBOM
    stored on the index. False when both were there already. ``inputs``: the SBOM's inputs
    gathered already (``sbom_inputs.start_gathering``); else gathered here, bases kept in ``cache``."""
    image = pin.require_target(target).image
    if image is None:
        raise EngineError(f"{pin.name} {pin.version} has no image for target {target}; build it first")
    repository, _, digest = image.ref.partition("@")
    if referrers(repository, digest, PROVENANCE_ARTIFACT) and fetch_document(
            index, sbom_url(index, pin.name, pin.version, target)) is not None:
        return False
    with report.step(f"SBOM and provenance of {image.tag}"):
        found = inputs() if inputs is not None else gather(index, pin, target, bases, client, cache)
        sbom = build_sbom(pin, target, found.licenses, found.debian).encode()
        envelope = signed(image_statement(pin, target, hashlib.sha256(sbom).hexdigest()), key)
        attach(repository, digest, SBOM_ARTIFACT, sbom, SBOM_ARTIFACT, {TITLE: sbom_name(target)})
        attach(repository, digest, PROVENANCE_ARTIFACT, envelope, DSSE_TYPE, {TITLE: f"{target}.provenance.json"})
        attach_on_index(index, pin.name, pin.version, sbom, target=target)
    report.info(f"{image.tag}: SBOM and provenance signed by {key.public.keyid[:12]}")
    return True
