"""The locked closure of a helper: every distribution a step installs with it, by file and sha256.

Pure data and pure functions, shared by the release (which resolves it), the image context and
the component factory (which install exactly it) and the pin tools (which check and diff it)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from helperhub.core.errors import ConfigError, LockError

SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]*")  # names, versions, file names: no path, space or shell
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, order=True)
class LockedFile:
    """One distribution file of a closure. ``extras``: the helper's extras that bring it in
    (empty: every install of the helper needs it)."""

    name: str
    version: str
    filename: str
    sha256: str
    extras: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The lock's form: ``extras`` only where some are needed."""
        data: dict[str, Any] = {
            "name": self.name, "version": self.version, "filename": self.filename, "sha256": self.sha256,
        }
        if self.extras:
            data["extras"] = list(self.extras)
        return data

    @classmethod
    def from_json(cls, owner: str, data: Any) -> LockedFile:
        """Read one item, refusing what could not be a file of an index: its values end up in
        shell commands and Dockerfile build args."""
        try:
            name, version, filename, sha256 = (data[k] for k in ("name", "version", "filename", "sha256"))
            extras = data.get("extras", [])
        except (KeyError, TypeError, AttributeError):
            name = None
        if name is None or not all(isinstance(v, str) for v in (name, version, filename, sha256)) or not (
            isinstance(extras, list) and all(isinstance(e, str) and SAFE.fullmatch(e) for e in extras)
            and SAFE.fullmatch(name) and SAFE.fullmatch(version) and SAFE.fullmatch(filename)
            and SHA256.fullmatch(sha256)
        ):
            raise LockError(
                f"pins.json entry {owner!r} has a closure item that is not a name, version, file name and "
                "64-hex sha256; restore pins.json from git or re-run the release"
            ) from None
        return cls(canonicalize_name(name), version, filename, sha256, tuple(extras))

    def url(self, beside: str) -> str:
        """The file's URL in the folder of ``beside`` (the helper wheel's URL: one packages folder)."""
        return f"{beside.rsplit('/', 1)[0]}/{self.filename}"


def rebase_url(url: str, index_url: str | None) -> str:
    """The same file path on another index host (pypiserver serves /packages/ beside /simple/)."""
    if not index_url:
        return url
    new, old = urlsplit(index_url), urlsplit(url)
    return old._replace(scheme=new.scheme, netloc=new.netloc).geturl()


def closure_sha256(closure: Iterable[LockedFile]) -> str:
    """The identity of a closure (images carry it as a label)."""
    text = json.dumps([f.to_json() for f in sorted(closure)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def for_extras(closure: Iterable[LockedFile], extras: Sequence[str]) -> list[LockedFile]:
    """The files an install of the helper with ``extras`` needs."""
    wanted = set(extras)
    return [f for f in closure if not f.extras or wanted & set(f.extras)]


def merge(groups: Iterable[tuple[str, Iterable[LockedFile]]]) -> list[LockedFile]:
    """One install set from several helpers' closures; one name locked at two files is an error
    (the helpers were resolved apart: re-release the older one, or `pins bump` it)."""
    chosen: dict[str, tuple[str, LockedFile]] = {}
    for owner, files in groups:
        for f in files:
            seen = chosen.get(f.name)
            if seen is None:
                chosen[f.name] = (owner, f)
            elif (seen[1].filename, seen[1].sha256) != (f.filename, f.sha256):
                raise ConfigError(
                    f"{seen[0]} locks {seen[1].filename} but {owner} locks {f.filename}: one step cannot "
                    f"install both; release or `pins bump` them against one index state, or split the step"
                )
    return [chosen[n][1] for n in sorted(chosen)]


def moves(old: Iterable[LockedFile], new: Iterable[LockedFile]) -> list[tuple[str, str, str]]:
    """(name, old version or '-', new version or '-') for every distribution that changed."""
    before = {f.name: f for f in old}
    after = {f.name: f for f in new}
    out = []
    for name in sorted(before.keys() | after.keys()):
        a, b = before.get(name), after.get(name)
        if a is None or b is None or (a.filename, a.sha256) != (b.filename, b.sha256):
            out.append((name, a.version if a else "-", b.version if b else "-"))
    return out
