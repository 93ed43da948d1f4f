"""Registered locks: what a team's repository pins (helper versions, closure files by sha256,
image digests), sent to the index by ``helperhub pins register`` so that retention never deletes
it. One JSON file per repository under the hidden ``.registrations/``, written atomically, bound
to the user who first sent it: only that user or an admin replaces or removes it. A registration
protects for ``register-days`` after it was last sent (retention.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from helperhub.core.fs import atomic_write_text
from helperhub.registry.server.metadata import upload_time
from helperhub.registry.server.notes import IMAGE_REF
from helperhub.registry.server.retention import Pinned
from helperhub.registry.server.validate import UploadRefused

REGISTRATIONS_DIR = ".registrations"
MAX_REGISTRATION = 4 << 20  # bytes of one registration's references
REPO_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,199}")
SHA256 = re.compile(r"[0-9a-f]{64}")


class RegistrationForbidden(UploadRefused):
    """Another user's registration: only they or an admin may change it."""


class NoRegistration(UploadRefused):
    """No registration of that name."""


@dataclass(frozen=True)
class Registration:
    name: str
    user: str
    registered_at: str  # PEP 700 form, UTC
    helpers: dict[str, str]  # canonical helper -> version
    files: dict[str, str]  # file name -> sha256
    images: tuple[str, ...]

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "user": self.user, "registered_at": self.registered_at,
                "helpers": self.helpers, "files": self.files, "images": list(self.images)}

    def pinned(self) -> Pinned:
        return Pinned(self.name, parse_time(self.registered_at), frozenset(self.helpers.items()),
                      frozenset(self.files), frozenset(self.images))


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def parse_references(name: str, text: str) -> tuple[dict[str, str], dict[str, str], tuple[str, ...]]:
    """A registration's references as the client sends them:
    ``{"helpers": {name: version}, "files": {file: sha256}, "images": [repo@sha256:...]}``."""
    if not REPO_NAME.fullmatch(name):
        raise UploadRefused(f"{name[:80]!r} is not a repository name; give letters, digits, . _ - / (up to 200)")
    if len(text.encode()) > MAX_REGISTRATION:
        raise UploadRefused(f"a registration is at most {MAX_REGISTRATION >> 20} MB")
    shape = '{"helpers": {name: version}, "files": {file: sha256}, "images": [repo@sha256:...]}'
    try:
        raw = json.loads(text)
    except ValueError:
        raise UploadRefused(f"the registration is not JSON; send {shape}") from None
    if not isinstance(raw, dict) or set(raw) - {"helpers", "files", "images"}:
        raise UploadRefused(f"a registration is {shape}")
    helpers, files, images = raw.get("helpers", {}), raw.get("files", {}), raw.get("images", [])
    if not (_str_map(helpers) and _str_map(files) and isinstance(images, list)
            and all(isinstance(i, str) for i in images)):
        raise UploadRefused(f"a registration is {shape}")
    bad = next((f for f, sha in files.items() if not SHA256.fullmatch(sha) or "/" in f), None)
    if bad is not None:
        raise UploadRefused(f"{bad[:80]!r} in the registration needs a file name and a 64-hex-digit sha256")
    bad = next((i for i in images if not IMAGE_REF.fullmatch(i)), None)
    if bad is not None:
        raise UploadRefused(f"{bad[:80]!r} in the registration is not an image by digest (repo@sha256:...)")
    return ({canonicalize_name(h): v for h, v in helpers.items()}, dict(files), tuple(sorted(set(images))))


def _str_map(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


class Registrations:
    """The registered locks of one package folder, read from disk on each use (a plan and
    ``who-pins --index`` are rare; a file edited or restored by hand counts at once). Writes are
    made under the retention service's lock, so a plan never sees half a change."""

    def __init__(self, root: Path) -> None:
        self.folder = root / REGISTRATIONS_DIR

    def path(self, name: str) -> Path:
        return self.folder / f"{hashlib.sha256(name.encode()).hexdigest()[:32]}.json"

    def get(self, name: str) -> Registration | None:
        try:
            raw = json.loads(self.path(name).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raise UploadRefused(f"the registration of {name} cannot be read; an admin restores it "
                                f"from a backup ({self.path(name)})") from None
        return _registration(raw)

    def all(self) -> list[Registration]:
        found = []
        try:
            entries = sorted(e.path for e in os.scandir(self.folder) if e.name.endswith(".json"))
        except FileNotFoundError:
            return []
        for path in entries:
            try:
                found.append(_registration(json.loads(Path(path).read_text())))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # unreadable: protects nothing, and the plan says how many were read
        return sorted(found, key=lambda r: r.name)

    def put(self, name: str, text: str, user: str, admin: bool) -> str:
        """Register (or renew) the references ``text`` names under ``name``; the answer."""
        helpers, files, images = parse_references(name, text)
        old = self.get(name)
        owner = old.user if old is not None else user
        if old is not None and old.user != user and not admin:
            raise RegistrationForbidden(f"the registration {name} belongs to {old.user}; ask them or an "
                                        "admin to change it, or register under another --name")
        registration = Registration(name, owner, upload_time(), helpers, files, images)
        atomic_write_text(self.path(name), json.dumps(registration.record(), indent=1, sort_keys=True) + "\n")
        verb = "renewed" if old is not None else "registered"
        return f"{name} {verb}: {len(helpers)} helpers, {len(files)} files, {len(images)} images"

    def remove(self, name: str, user: str, admin: bool) -> str:
        old = self.get(name)
        if old is None:
            raise NoRegistration(f"no registration is named {name}; `helperhub who-pins --index` lists them")
        if old.user != user and not admin:
            raise RegistrationForbidden(f"the registration {name} belongs to {old.user}; ask them or an admin "
                                        "to remove it")
        self.path(name).unlink()
        return f"{name} unregistered"


def _registration(raw: Mapping[str, Any]) -> Registration:
    parse_time(str(raw["registered_at"]))  # a time that does not parse: the file is unreadable
    return Registration(str(raw["name"]), str(raw["user"]), str(raw["registered_at"]),
                        {str(k): str(v) for k, v in raw.get("helpers", {}).items()},
                        {str(k): str(v) for k, v in raw.get("files", {}).items()},
                        tuple(str(i) for i in raw.get("images", [])))
