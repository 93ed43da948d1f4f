"""The pure parts: DSSE signing and its refusals, the provenance statements' exact text, and the
SBOM's schema and determinism."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from helperhub.core.errors import ConfigError, IntegrityError
from helperhub.core.signing import (
    load_signing_key,
    new_key,
    pae,
    parse_public_key,
    public_path,
    sign_envelope,
    verify_envelope,
)
from helperhub.lock.lockfile import load_lock
from helperhub.release.provenance import image_statement, parse_statement, statement_bytes, wheel_statement
from helperhub.release.sbom import DebianPackage, build_sbom, dpkg_packages, license_text, python_components
from tests.conftest import DEFAULT_LOCK

STATUS = """Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.36-9+deb12u9
Description: GNU C Library
 a continuation line: Version: 9

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: tzdata
Status: install ok installed
Architecture: all
Version: 2025b-0+deb12u1
"""


def test_pae_is_the_dsse_encoding() -> None:
    assert pae("application/vnd.in-toto+json", b"hello") == b"DSSEv1 28 application/vnd.in-toto+json 5 hello"


def test_keys_sign_and_verify_and_refuse(tmp_path: Path) -> None:
    key = new_key(tmp_path / "k.pem")
    assert stat.S_IMODE((tmp_path / "k.pem").stat().st_mode) == 0o600
    assert parse_public_key(public_path(tmp_path / "k.pem").read_text()) == key.public
    assert parse_public_key("k.pem.pub", tmp_path) == key.public  # a key file, relative to the repository
    assert load_signing_key(tmp_path / "k.pem").public == key.public
    with pytest.raises(ConfigError, match="already exists"):
        new_key(tmp_path / "k.pem")
    envelope = sign_envelope(b'{"x": 1}', key)
    assert envelope == sign_envelope(b'{"x": 1}', key)  # ed25519: deterministic
    document = json.dumps(envelope).encode()
    assert verify_envelope(document, {key.public.keyid: key.public}, "w") == b'{"x": 1}'
    other = new_key(tmp_path / "other.pem")
    with pytest.raises(IntegrityError, match="signed by an unknown key"):
        verify_envelope(document, {other.public.keyid: other.public}, "w")
    tampered = {**envelope, "payload": base64.b64encode(b'{"x": 2}').decode()}
    with pytest.raises(IntegrityError, match="does not verify"):
        verify_envelope(json.dumps(tampered).encode(), {key.public.keyid: key.public}, "w")
    with pytest.raises(IntegrityError, match="not a DSSE envelope"):
        verify_envelope(b"[]", {key.public.keyid: key.public}, "w")
    with pytest.raises(ConfigError, match="neither base64"):
        parse_public_key("not-a-key")


def test_wheel_statement_exact_text() -> None:
    pin = load_lock(DEFAULT_LOCK).packages["tabular-helpers"]
    statement = wheel_statement(pin)
    text = statement_bytes(statement).decode()
    assert text.startswith('{"_type":"https://in-toto.io/Statement/v1","predicate":{"buildDefinition":'
                           '{"buildType":"urn:helperhub:build:wheel:v1","externalParameters":{"commands":')
    assert statement["subject"] == [
        {"name": "tabular_helpers-1.0.0-py3-none-any.whl",
         "digest": {"sha256": "cc57e167b8381bf7d64f7d54c77de837da42aa09e3dce73a4a034fdcae20641e"}},
        {"name": "tabular_helpers-1.0.0.tar.gz",
         "digest": {"sha256": "e3bc68f5f2a47b9beb86ed00dd8ac2cd178ace5dae520f272db3a9d9bfdd3b41"}},
    ]
    source = statement["predicate"]["buildDefinition"]["resolvedDependencies"][0]
    assert source == {"name": "source of tabular-helpers",
                      "uri": "git+commit:842f16f0501b72c36c2eb706ed8cf43a10b43a0c#helpers/tabular-helpers",
                      "digest": {"gitCommit": "842f16f0501b72c36c2eb706ed8cf43a10b43a0c",
                                 "sha256": "7f319c3b5e62486c12d0615f27ca71123277aaf1806f48a402d4a6860f7453bd"}}
    closure = statement["predicate"]["buildDefinition"]["resolvedDependencies"][1:]
    assert [d["name"] for d in closure] == sorted(f.filename for f in pin.closure)
    assert statement["predicate"]["runDetails"]["metadata"]["startedOn"] == "2026-11-29T08:27:01Z"
    parsed = parse_statement(statement_bytes(statement), "w")
    assert parsed.subjects[pin.wheel] == pin.sha256 and parsed.parameters["package"] == "tabular-helpers"


def test_image_statement_names_the_image_and_its_sbom() -> None:
    pin = load_lock(DEFAULT_LOCK).packages["tabular-helpers"]
    statement = image_statement(pin, "default", "ab" * 32)
    assert pin.image is not None
    repository, _, digest = pin.image.ref.partition("@")
    assert statement["subject"][0] == {"name": repository, "digest": {"sha256": digest[len("sha256:"):]},
                                       "annotations": {"tag": pin.image.tag}}
    assert statement["predicate"]["runDetails"]["byproducts"] == [
        {"name": "default.cdx.json", "mediaType": "application/vnd.cyclonedx+json", "digest": {"sha256": "ab" * 32}}]
    parsed = parse_statement(statement_bytes(statement), "i")
    assert parsed.dependencies[pin.wheel] == pin.sha256 and parsed.parameters["target"] == "default"


def test_dpkg_status_and_licenses() -> None:
    assert dpkg_packages(STATUS) == (DebianPackage("libc6", "2.36-9+deb12u9", "amd64"),
                                     DebianPackage("tzdata", "2025b-0+deb12u1", "all"))
    assert license_text("MIT") == "MIT"
    assert license_text("BSD 3-Clause License\n\nCopyright ...") == "BSD 3-Clause License"
    assert license_text("x" * 300).endswith("...") and len(license_text("x" * 300)) == 120


def test_sbom_validates_is_deterministic_and_lists_exactly_the_closure() -> None:
    pin = load_lock(DEFAULT_LOCK).packages["tabular-helpers"]
    licenses = {f.filename: "BSD-3-Clause" for f in pin.closure}
    debian = {"linux/amd64": dpkg_packages(STATUS)}
    text = build_sbom(pin, "default", licenses, debian)
    assert text == build_sbom(pin, "default", licenses, debian)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    data = json.loads(text)
    assert data["specVersion"] == "1.6" and data["serialNumber"].startswith("urn:uuid:")
    assert data["metadata"]["timestamp"] == "2026-11-29T08:27:01+00:00"
    assert python_components(text.encode()) == {f.filename: f.sha256 for f in pin.closure}
    debs = [c["purl"] for c in data["components"] if c["purl"].startswith("pkg:deb/")]
    assert debs == ["pkg:deb/debian/libc6@2.36-9%2Bdeb12u9?arch=amd64",
                    "pkg:deb/debian/tzdata@2025b-0%2Bdeb12u1?arch=all"]
    numpy = next(c for c in data["components"] if c["name"] == "numpy")
    assert numpy["licenses"] == [{"license": {"id": "BSD-3-Clause"}}]
    other = build_sbom(pin, "default", licenses, {})
    assert json.loads(other)["serialNumber"] != data["serialNumber"]  # derived from the content
