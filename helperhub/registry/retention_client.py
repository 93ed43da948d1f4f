"""Retention as a client sees it: register a repository's lock references with the index, remove
them, list who registered what, and ask an admin's plan (or its deletes) of the running index."""

from __future__ import annotations

import json
from typing import Any

import requests

from helperhub.core.errors import RegistryError
from helperhub.registry.client import TIMEOUT, IndexSettings, _unreachable, post_form

REGISTRATIONS_PATH = "/-/registrations.json"


def register_references(settings: IndexSettings, name: str, references: dict[str, Any]) -> str:
    """Register (or renew) what repository ``name`` pins: ``{"helpers": {name: version}, "files":
    {file: sha256}, "images": [repo@sha256:...]}``; bound to the login; the index's answer."""
    form = {":action": (None, "register"), "name": (None, name),
            "references": (None, json.dumps(references, sort_keys=True))}
    return post_form(settings, form, f"to register the lock of {name}")


def unregister(settings: IndexSettings, name: str) -> str:
    return post_form(settings, {":action": (None, "unregister"), "name": (None, name)},
                     f"to unregister the lock of {name}")


def registrations(settings: IndexSettings) -> list[dict[str, Any]]:
    """The registered locks: name, user, registered_at, expires_at, helpers, files (a count), images."""
    auth = (settings.username, settings.password) if settings.username and settings.password else None
    try:
        resp = requests.get(settings.base + REGISTRATIONS_PATH, auth=auth, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise _unreachable(settings, exc) from None
    if resp.status_code == 404:
        raise RegistryError(f"the index at {settings.base} keeps no registered locks; it needs a newer helperhub")
    if resp.status_code != 200:
        raise RegistryError(f"the index at {settings.base} answered {resp.status_code} for its registered locks")
    found: list[dict[str, Any]] = resp.json()
    return found


def retention_plan(settings: IndexSettings, policy: str | None = None, *, apply: bool = False) -> dict[str, Any]:
    """The index's retention plan under its policy (or ``policy``, a TOML text, for this run):
    ``{"policy", "applied", "bytes", "delete": [{file, project, version, bytes, reason}], "kept"}``;
    with ``apply`` the index deletes it. Only its admins may ask."""
    form = {":action": (None, "gc"), "apply": (None, "1" if apply else "0")}
    if policy:
        form["retention"] = (None, policy)
    answer = post_form(settings, form, "to apply retention" if apply else "to plan retention")
    plan: dict[str, Any] = json.loads(answer)
    return plan


def images_deleted(settings: IndexSettings, refs: list[str]) -> None:
    """Tell the index these images are gone from the OCI registry: no longer pending."""
    form = {":action": (None, "gc_images"), "deleted": (None, json.dumps(sorted(refs)))}
    post_form(settings, form, "to report deleted images")
