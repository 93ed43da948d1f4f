"""Yank and unyank a released version (PEP 592) on the private index: an authenticated form
post to the upload endpoint, ``:action=yank`` or ``:action=unyank``. A yanked version stays
installable by ``==`` (pins keep working) but no range picks it any more."""

from __future__ import annotations

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from helperhub.core.errors import ConfigError
from helperhub.registry.client import IndexSettings, post_form


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
    form = yank_form(name, version, reason, undo=undo)
    return post_form(settings, form, f"to {'unyank' if undo else 'yank'} {name} {version}")
