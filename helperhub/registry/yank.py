"""Yank and unyank a released version (PEP 592) on the private index: an authenticated form
post to the upload endpoint, ``:action=yank`` or ``:action=unyank``. A yanked version stays
installable by ``==`` (pins keep working) but no range picks it any more."""

from __future__ import annotations

import requests
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from helperhub.core.errors import ConfigError, RegistryError
from helperhub.registry.client import TIMEOUT, IndexSettings


def yank_form(name: str, version: str, reason: str | None, *, undo: bool = False) -> dict[str, tuple[None, str]]:
    """The multipart fields the index takes (``None`` file names: plain form fields)."""
    try:
        Version(version)
    except InvalidVersion:
        raise ConfigError(f"{version!r} is not a version; give one like 1.2.0") from None
    fields = {":action": (None, "unyank" if undo else "yank"), "name": (None, canonicalize_name(name)),
              "version": (None, version)}
    if reason and not undo:
        fields["reason"] = (None, reason)
    return fields


def set_yanked(settings: IndexSettings, name: str, version: str, reason: str | None = None, *,
               undo: bool = False) -> str:
    """Yank (or, with ``undo``, unyank) every file of NAME VERSION; the index's answer."""
    if not settings.username or not settings.password:
        raise ConfigError("yanking needs the index login: set HUB_INDEX_USER and HUB_INDEX_PASSWORD "
                          "(or --user and --password-file)")
    form = yank_form(name, version, reason, undo=undo)
    try:
        resp = requests.post(settings.upload_url, files=form, auth=(settings.username, settings.password),
                             timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise RegistryError(f"cannot reach the package index at {settings.base} ({type(exc).__name__}); "
                            "check HUB_INDEX_URL") from None
    answer = resp.text.strip()
    if resp.status_code == 200:
        return answer
    if resp.status_code == 401:
        raise ConfigError(f"the index at {settings.base} refused the login of {settings.username}; "
                          "check HUB_INDEX_USER and HUB_INDEX_PASSWORD")
    what = "unyank" if undo else "yank"
    raise RegistryError(f"the index refused to {what} {name} {version} ({resp.status_code}): "
                        f"{answer or resp.reason}")
