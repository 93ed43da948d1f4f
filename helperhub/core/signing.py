"""The releasing team's key (ed25519) and DSSE envelopes signed with it, for the provenance a
release publishes and the pin commands verify. Offline by design: a key is a file, trust is a
table of public keys (``[tool.helperhub.trusted-keys]``), nothing is logged anywhere.

DSSE (https://github.com/secure-systems-lab/dsse): the signature covers
``PAE(type, body) = "DSSEv1 <len(type)> <type> <len(body)> <body>"``, so a payload cannot be
taken for another type. ed25519 signatures are deterministic: the same payload and key give the
same envelope, byte for byte."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helperhub.core.errors import ConfigError, IntegrityError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

INTOTO_TYPE = "application/vnd.in-toto+json"  # the payload type of an in-toto Statement
KEY_NAME = "signing-key.pem"  # the private key, in the checkout's git-ignored state folder
PUBLIC_SUFFIX = ".pub"  # beside it: the public key, base64 of its 32 raw bytes


@dataclass(frozen=True)
class PublicKey:
    """An ed25519 public key by its raw bytes; ``keyid`` is the sha256 of them (hex)."""

    raw: bytes

    @property
    def keyid(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def text(self) -> str:
        """What ``[tool.helperhub.trusted-keys]`` takes: base64 of the raw bytes."""
        return base64.b64encode(self.raw).decode()

    def verifier(self) -> Ed25519PublicKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        return Ed25519PublicKey.from_public_bytes(self.raw)


@dataclass(frozen=True)
class SigningKey:
    """A private key as loaded from its file (``path`` names it in messages)."""

    path: Path
    key: Ed25519PrivateKey

    @property
    def public(self) -> PublicKey:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return PublicKey(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


def pae(payload_type: str, body: bytes) -> bytes:
    """DSSE's pre-authentication encoding of ``body`` as ``payload_type``."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(body), body)


def sign_envelope(payload: bytes, key: SigningKey, payload_type: str = INTOTO_TYPE) -> dict[str, Any]:
    """A DSSE envelope of ``payload`` with one signature by ``key``."""
    signature = key.key.sign(pae(payload_type, payload))
    return {
        "payload": base64.b64encode(payload).decode(),
        "payloadType": payload_type,
        "signatures": [{"keyid": key.public.keyid, "sig": base64.b64encode(signature).decode()}],
    }


def envelope_bytes(envelope: Mapping[str, Any]) -> bytes:
    """An envelope as it is stored and served: one canonical text, so a digest of it is stable."""
    return (json.dumps(envelope, sort_keys=True, indent=2) + "\n").encode()


def verify_envelope(document: bytes, trusted: Mapping[str, PublicKey], what: str,
                    payload_type: str = INTOTO_TYPE) -> bytes:
    """The payload of a DSSE envelope one of whose signatures verifies with a ``trusted`` key
    (keyid -> key); else IntegrityError naming ``what`` and why (not an envelope, an unknown key, a
    signature that does not verify)."""
    from cryptography.exceptions import InvalidSignature

    try:
        envelope = json.loads(document)
        payload = base64.b64decode(envelope["payload"], validate=True)
        kind = envelope["payloadType"]
        signatures = [(s["keyid"], base64.b64decode(s["sig"], validate=True)) for s in envelope["signatures"]]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise IntegrityError(f"the provenance of {what} is not a DSSE envelope; re-release it") from None
    if kind != payload_type:
        raise IntegrityError(f"the provenance of {what} is a {kind!r} envelope, not {payload_type}")
    known = [(trusted[k], sig) for k, sig in signatures if k in trusted]
    if not known:
        ids = ", ".join(k[:12] for k, _ in signatures) or "none"
        raise IntegrityError(f"the provenance of {what} is signed by an unknown key ({ids}); add the releasing "
                             "team's public key to [tool.helperhub.trusted-keys] if you trust it")
    for key, sig in known:
        try:
            key.verifier().verify(sig, pae(kind, payload))
            return payload
        except InvalidSignature:
            continue
    raise IntegrityError(f"the provenance signature of {what} does not verify with key {known[0][0].keyid[:12]}: "
                         "it was changed after signing; do not use it")


def new_key(path: Path) -> SigningKey:
    """Write a new private key to ``path`` (0600, refused if it exists) and its public key beside
    it (``<path>.pub``); the loaded key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; keep it, or move it away to make a new key") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    signing = SigningKey(path, key)
    public_path(path).write_text(signing.public.text + "\n", encoding="utf-8")
    return signing


def public_path(path: Path) -> Path:
    return path.with_name(path.name + PUBLIC_SUFFIX)


def load_signing_key(path: Path) -> SigningKey:
    """The private key of ``path`` (PEM, PKCS#8 ed25519, unencrypted)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise ConfigError(f"no signing key at {path}; make one with `helperhub keys new`") from None
    except (ValueError, TypeError, OSError):
        raise ConfigError(f"{path} is not an unencrypted PEM private key; make one with `helperhub keys new`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{path} is not an ed25519 key; make one with `helperhub keys new`")
    return SigningKey(path, key)


def ensure_signing_key(path: Path) -> SigningKey:
    """The key of ``path``, made there on first use (the checkout's own key under ``.hub/``)."""
    if path.exists():
        key = load_signing_key(path)
        if not public_path(path).exists():
            public_path(path).write_text(key.public.text + "\n", encoding="utf-8")
        return key
    return new_key(path)


def parse_public_key(text: str, base: Path | None = None, where: str = "a trusted key") -> PublicKey:
    """A public key given as base64 of its 32 raw bytes, as PEM, or as the path of a file holding
    either (relative to ``base``)."""
    value = text.strip()
    if not value.startswith("-----") and ("/" in value or value.endswith((".pub", ".pem"))) and not _b64_key(value):
        path = Path(value) if base is None else base / value
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError:
            raise ConfigError(f"{where}: cannot read the key file {path}; give base64, PEM or a readable "
                              "file") from None
    if value.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key

        try:
            key = load_pem_public_key(value.encode())
        except ValueError:
            raise ConfigError(f"{where} is not a readable PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{where} is not an ed25519 public key")
        return PublicKey(key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    raw = _b64_key(value)
    if raw is None:
        raise ConfigError(f"{where} is neither base64 of 32 bytes, PEM nor a key file; copy it from "
                          "`helperhub keys show`")
    return PublicKey(raw)


def _b64_key(value: str) -> bytes | None:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None
