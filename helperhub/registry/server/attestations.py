"""What a release says about itself, kept beside its files: the signed provenance of each file
(``<file>.provenance.json``, a DSSE envelope) and the SBOM of each target
(``/helpers/<name>/<version>/<target>.cdx.json``), under the package folder's hidden
``.attestations/``. A release attaches them after its uploads (``:action=attach``, by an owner
of the project, with ``name``, ``version``, ``kind`` = provenance + ``file`` or sbom + ``target``,
and ``document``). The index neither signs nor verifies them (the pin commands do, with the keys
their repository trusts); like a released file, a document never changes once stored: the same
bytes again are accepted, other bytes refused."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from helperhub.core.dists import dist_version
from helperhub.core.fs import atomic_write_text
from helperhub.registry.server.notes import check_target_name

if TYPE_CHECKING:  # the paths are read by the nginx front's config too, which runs no store
    from helperhub.registry.server.store import HardenedBackend
from helperhub.registry.server.validate import UploadRefused, check_filename

ATTESTATIONS_DIR = ".attestations"
FILES_DIR = "files"  # <file>.provenance.json: file names are unique in the index
HELPERS_DIR = "helpers"  # <project>/<version>/<target>.cdx.json
PROVENANCE_SUFFIX = ".provenance.json"
SBOM_SUFFIX = ".cdx.json"
KINDS = ("provenance", "sbom")
NAME = re.compile(r"[a-z0-9][a-z0-9-]*")  # a canonical project name
_lock = threading.Lock()


def provenance_path(root: Path, filename: str) -> Path:
    return root / ATTESTATIONS_DIR / FILES_DIR / f"{filename}{PROVENANCE_SUFFIX}"


def sbom_path(root: Path, project: str, version: Version, target: str) -> Path:
    return root / ATTESTATIONS_DIR / HELPERS_DIR / project / str(version) / f"{target}{SBOM_SUFFIX}"


def served_path(root: Path, path: str) -> Path | None:
    """The stored document a GET of ``path`` names (``/packages/<file>.provenance.json`` or
    ``/helpers/<name>/<version>/<target>.cdx.json``); None for any other path or a malformed one."""
    if path.startswith("/packages/") and path.endswith(PROVENANCE_SUFFIX) and path.count("/") == 2:
        filename = path[len("/packages/"):-len(PROVENANCE_SUFFIX)]
        try:
            check_filename(filename)
        except UploadRefused:
            return None
        return provenance_path(root, filename)
    parts = path.split("/")
    if len(parts) == 5 and parts[:2] == ["", "helpers"] and parts[4].endswith(SBOM_SUFFIX):
        name, version_text, target = parts[2], parts[3], parts[4][:-len(SBOM_SUFFIX)]
        try:
            version, target = Version(version_text), check_target_name(target)
        except (InvalidVersion, UploadRefused):
            return None
        if not NAME.fullmatch(canonicalize_name(name)):
            return None
        found = sbom_path(root, canonicalize_name(name), version, target)
        return found if found.exists() else _spelt_otherwise(found, version)
    return None


def _spelt_otherwise(path: Path, version: Version) -> Path:
    """``path`` under the folder of the same version spelt as the release's files spell it (1.0 is 1.0.0)."""
    try:
        folders = list(path.parent.parent.iterdir())
    except OSError:
        return path
    for folder in folders:
        try:
            if Version(folder.name) == version:
                return folder / path.name
        except InvalidVersion:
            continue
    return path


def document_of(text: str) -> str:
    """The document as stored: a JSON object, its text as sent."""
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise UploadRefused("the document of an attach form must be a JSON object")
    return text


def attach_document(backend: HardenedBackend, fields: Mapping[str, str], user: str) -> str:
    """Store the document an ``:action=attach`` form carries; the answer."""
    from helperhub.registry.server.store import UploadConflict

    root = backend.root
    kind = fields.get("kind", "").strip()
    if kind not in KINDS or not all(fields.get(k, "").strip() for k in ("name", "version", "document")):
        raise UploadRefused("an attach form has the fields name, version, kind (provenance, with file; or sbom, "
                            "with target) and document, and no file")
    document = document_of(fields["document"])
    project, version = backend.owned_release(fields["name"], fields["version"].strip(), user)
    if kind == "provenance":
        filename = fields.get("file", "").strip()
        named = check_filename(filename) if filename else ("", None)
        if named[0] != project or dist_version(filename) != version or backend.sha256_of(filename) is None:
            raise UploadRefused(f"{filename or 'no file'} is not a file of {project} {version}; name one it has")
        path, what = provenance_path(root, filename), f"the provenance of {filename}"
    else:
        target = check_target_name(fields.get("target", ""))
        path, what = sbom_path(root, project, version, target), f"the SBOM of {project} {version} ({target})"
    with _lock:
        try:
            there = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            there = None
        if there == document:
            return f"{what} unchanged"
        if there is not None:
            raise UploadConflict(f"{what} is already stored with other content; released documents never change: "
                           "bump the version")
        atomic_write_text(path, document)
    return f"{what} stored"
