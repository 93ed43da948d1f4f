"""Release records: what makes a project a helper, and which helper releases use a mirrored file.

A release, after its uploads, records its lock entry on the index (``:action=record_release``, by
an owner): the version's pin (wheel, sdist, closure per target and platform, images) and the files
it mirrored for it. One JSON file per version under ``.releases/<project>/``, written atomically,
served as ``/helpers/<name>/<version>/release.json``.

The one rule (catalog, ``helpers list``, feeds): a project is a helper if a release recorded it;
else if an owner uploaded a file of it that no release record lists as mirrored (a plain twine or
uv upload) — except the tool itself, and the projects that were third-party when the registry
first ran with records (a migration: then, a helper was a project with an sdist). A mirrored file
stays mirrored when retention deletes every release that listed it (a registered lock keeps it):
``.unlisted.json`` remembers it, so a restart does not turn its project into a helper."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from helperhub.core.defaults import TOOL_PROJECT
from helperhub.core.fs import atomic_write_text
from helperhub.registry.server.validate import UploadRefused

RECORDS_DIR = ".releases"
MIGRATED = ".third-party.json"  # the projects that were third-party when records began
UNLISTED = ".unlisted.json"  # mirrored files that outlived every record listing them (retention)
RECORD_SUFFIX = ".json"
MAX_RECORD = 8 << 20  # bytes of one record (a pin with every target's closure is ~50 KB)
SDIST_SUFFIX = ".tar.gz"
NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+!_-]*")


class ReleaseRecords:
    def __init__(self, root: Path) -> None:
        self.folder = root / RECORDS_DIR
        self._lock = threading.Lock()
        self._recorded: dict[str, set[str]] = {}  # project -> versions with a record
        self._mirrored: dict[str, set[tuple[str, str]]] = {}  # file name -> (helper, version) that mirrored it
        self._legacy: set[str] = set()
        self._unlisted: set[str] = set()  # once mirrored, no record lists them now
        self.listeners: list[Callable[[set[str]], None]] = []  # told the projects a new record may move

    # -- start ----------------------------------------------------------------------------------
    def load(self, files_by_project: Mapping[str, Iterable[str]]) -> None:
        """Read every record (a start's catch-up); the first start with records migrates: the
        projects without an sdist then are third-party for good, unless a release records them."""
        migrated = self.folder / MIGRATED
        if not migrated.is_file():
            legacy = sorted(p for p, files in files_by_project.items()
                            if not any(f.endswith(SDIST_SUFFIX) for f in files))
            atomic_write_text(migrated, json.dumps(legacy, indent=0) + "\n")
        try:
            raw = json.loads(migrated.read_text())
        except (OSError, ValueError):
            raw = []
        unlisted = read_unlisted(self.folder)
        recorded: dict[str, set[str]] = {}
        mirrored: dict[str, set[tuple[str, str]]] = {}
        for project_dir in _dirs(self.folder):
            for entry in _files(project_dir):
                version = entry.name.removesuffix(RECORD_SUFFIX)
                try:
                    record = json.loads(Path(entry.path).read_bytes())
                except (OSError, ValueError):
                    continue
                recorded.setdefault(project_dir.name, set()).add(version)
                for name in record_files(record):
                    mirrored.setdefault(name, set()).add((project_dir.name, version))
        with self._lock:
            self._legacy = {p for p in raw if isinstance(p, str)} if isinstance(raw, list) else set()
            self._unlisted = unlisted
            self._recorded, self._mirrored = recorded, mirrored
        for listener in self.listeners:
            listener(set(recorded))

    # -- the rule ---------------------------------------------------------------------------------
    def is_helper(self, project: str, filenames: Iterable[str]) -> bool:
        project = canonicalize_name(project)
        if project == TOOL_PROJECT:
            return False
        if project in self._recorded:
            return True
        if project in self._legacy:
            return False
        return any(name not in self._mirrored and name not in self._unlisted for name in filenames)

    def used_by(self, filename: str) -> list[tuple[str, str]]:
        """The helper releases (name, version) whose records list ``filename`` as mirrored."""
        return sorted(self._mirrored.get(filename, ()))

    def versions(self, project: str) -> set[str]:
        return set(self._recorded.get(canonicalize_name(project), ()))

    def path(self, project: str, version: str) -> Path:
        return self.folder / canonicalize_name(project) / f"{version}{RECORD_SUFFIX}"

    def get(self, project: str, version: str) -> bytes | None:
        try:
            return self.path(project, version).read_bytes()
        except OSError:
            return None

    # -- writes (the store's lock is held) --------------------------------------------------------
    def put(self, project: str, version: str, record: dict[str, Any]) -> set[str]:
        """Store a version's record (a repeated record replaces it: a release that added a target);
        the projects whose standing it may change (the helper and every project it mirrored)."""
        text = json.dumps(record, indent=1, sort_keys=True) + "\n"
        target = self.path(project, version)
        old = self.get(project, version)
        if old is not None and old.decode("utf-8", "replace") == text:
            return set()
        atomic_write_text(target, text)
        files = record_files(record)
        with self._lock:
            self._recorded.setdefault(project, set()).add(version)
            for name in files:
                self._mirrored.setdefault(name, set()).add((project, version))
        moved = {project} | {project_of(name) for name in files}
        for listener in self.listeners:
            listener(moved)
        return moved


    def forget(self, project: str, version: str) -> None:
        """Delete a version's record (retention deleted the version); the project stays a helper, and
        the files only it listed stay mirrored (remembered before the record goes)."""
        with self._lock:
            self._recorded.get(project, set()).discard(version)
            for users in self._mirrored.values():
                users.discard((project, version))
            orphans = {name for name, users in self._mirrored.items() if not users}
            for name in orphans:
                del self._mirrored[name]
            if orphans - self._unlisted:
                self._unlisted |= orphans
                add_unlisted(self.folder, orphans)
        self.path(project, version).unlink(missing_ok=True)

    def mark_mirrored(self, names: Iterable[str]) -> set[str]:
        """Files mirrored for a team's environment, which no release lists: third-party from now on,
        as the files of a deleted release are (deletable when nothing pins them); the projects
        whose standing may move."""
        new = set(names) - self._unlisted
        if not new:
            return set()
        add_unlisted(self.folder, new)
        with self._lock:
            self._unlisted |= new
        moved = {project_of(name) for name in new}
        for listener in self.listeners:
            listener(moved)
        return moved

    def unlisted(self) -> set[str]:
        """Files once mirrored that no record lists now: third-party, deletable when nothing pins them."""
        return set(self._unlisted)


def read_unlisted(folder: Path) -> set[str]:
    try:
        raw = json.loads((folder / UNLISTED).read_text())
    except (OSError, ValueError):
        return set()
    return {n for n in raw if isinstance(n, str)} if isinstance(raw, list) else set()


def add_unlisted(folder: Path, names: Iterable[str]) -> None:
    """Remember files as once mirrored (before the record that listed them goes), durably."""
    known = read_unlisted(folder)
    if set(names) - known:
        atomic_write_text(folder / UNLISTED, json.dumps(sorted(known | set(names)), indent=0) + "\n")


def served_record(root: Path, path: str) -> Path | None:
    """The record a GET of ``/helpers/<name>/<version>/release.json`` names; None for another path."""
    parts = path.split("/")
    if len(parts) != 5 or parts[:2] != ["", "helpers"] or parts[4] != "release.json":
        return None
    name, version = canonicalize_name(parts[2]), parts[3]
    if not NAME.fullmatch(name) or not VERSION.fullmatch(version):
        return None
    return root / RECORDS_DIR / name / f"{version}{RECORD_SUFFIX}"


def parse_release_record(text: str, project: str, version: str) -> dict[str, Any]:
    """A record as the release sends it: ``{"pin": {...lock entry...}, "mirrored": [file names]}``."""
    if len(text.encode()) > MAX_RECORD:
        raise UploadRefused(f"a release record is at most {MAX_RECORD >> 20} MB")
    try:
        record = json.loads(text)
    except ValueError:
        raise UploadRefused("the release record is not JSON; send the version's lock entry as "
                            '{"pin": {...}, "mirrored": [...]}') from None
    if not isinstance(record, dict) or not isinstance(record.get("pin"), dict) or not isinstance(
            record.get("mirrored", []), list) or not all(isinstance(n, str) for n in record.get("mirrored", [])):
        raise UploadRefused('a release record is {"pin": {...lock entry...}, "mirrored": [file names]}')
    pinned = record["pin"].get("version")
    if pinned is not None and str(pinned) != version:
        raise UploadRefused(f"the record is of {project} {pinned}, the form names version {version}")
    return {"name": project, "version": version, "pin": record["pin"],
            "mirrored": sorted(set(record.get("mirrored", [])))}


def record_files(record: Any) -> set[str]:
    """The files a record lists as mirrored: its ``mirrored`` list and every closure file of its pin
    (the helper's own wheel, which a closure holds too, is not mirrored)."""
    if not isinstance(record, dict):
        return set()
    files: set[str] = {n for n in record.get("mirrored", []) if isinstance(n, str)}
    pin: dict[str, Any] = record["pin"] if isinstance(record.get("pin"), dict) else {}
    for target in (pin.get("targets") or {}).values():
        for platform_files in ((target or {}).get("closure") or {}).values():
            files |= {f["filename"] for f in platform_files
                      if isinstance(f, dict) and isinstance(f.get("filename"), str)}
    own = {pin.get("wheel"), pin.get("sdist")}
    return files - own


def record_images(record: Any) -> set[str]:
    """The image manifests a record's pin names by digest: each target's image (an index, for a
    multi-platform image) and its platforms' manifests, as ``repo@sha256:...``."""
    pin = record.get("pin") if isinstance(record, dict) else None
    targets = pin.get("targets") if isinstance(pin, dict) else None
    images: set[str] = set()
    for target in targets.values() if isinstance(targets, dict) else ():
        image = target.get("image") if isinstance(target, dict) else None
        ref = image.get("ref") if isinstance(image, dict) else None
        if not isinstance(image, dict) or not isinstance(ref, str) or "@sha256:" not in ref:
            continue
        images.add(ref)
        repo = ref.split("@", 1)[0]
        platforms = image.get("platforms")
        digests = platforms.values() if isinstance(platforms, dict) else ()
        images |= {f"{repo}@{d}" for d in digests if isinstance(d, str) and d.startswith("sha256:")}
    return images


def project_of(filename: str) -> str:
    from pypiserver.pkg_helpers import guess_pkgname_and_version

    guessed = guess_pkgname_and_version(filename)
    return canonicalize_name(guessed[0] if guessed else filename)


def _dirs(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return [e for e in entries if e.is_dir() and not e.name.startswith(".")]
    except FileNotFoundError:
        return []


def _files(folder: os.DirEntry[str]) -> list[os.DirEntry[str]]:
    with os.scandir(folder.path) as entries:
        return [e for e in entries if e.is_file() and e.name.endswith(RECORD_SUFFIX) and not e.name.startswith(".")]
