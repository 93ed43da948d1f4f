"""A repository's lock registered with the index (``helperhub pins register``), so that retention
never deletes what it pins; and who registered which helper version (``who-pins --index``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import LockError
from helperhub.lock.lockfile import Lock, load_lock
from helperhub.registry.client import IndexSettings
from helperhub.registry.retention_client import register_references, registrations, unregister


def lock_references(lock: Lock) -> dict[str, Any]:
    """Everything a lock pins: each helper's version, every file (wheel, sdist and each target's
    closure on each platform, and every file of its environments) by sha256, and each target's
    image and per-platform manifests."""
    helpers: dict[str, str] = {}
    files: dict[str, str] = {}
    images: set[str] = set()
    for name, pin in sorted(lock.packages.items()):
        helpers[name] = pin.version
        files[pin.wheel] = pin.sha256
        if pin.sdist and pin.sdist_sha256:
            files[pin.sdist] = pin.sdist_sha256
        for target in pin.targets.values():
            for platform_files in target.closure.values():
                files.update({f.filename: f.sha256 for f in platform_files})
            if target.image is not None:
                images.add(target.image.ref)
                repo = target.image.ref.split("@", 1)[0]
                images.update(f"{repo}@{d}" for d in target.image.platforms.values() if d.startswith("sha256:"))
    for env in lock.environments.values():  # the files an environment mirrored are pinned by it alone
        for target in env.targets.values():
            for platform_files in target.closure.values():
                files.update({f.filename: f.sha256 for f in platform_files})
    return {"helpers": helpers, "files": files, "images": sorted(images)}


def repository_name(root: Path, name: str | None) -> str:
    return name or root.resolve().name


def register_lock(root: Path, index: IndexSettings, name: str | None = None) -> str:
    """Register (or renew) the repository's pins.json with the index; the index's answer."""
    lock = load_lock(root / LOCK_NAME)
    if not lock.packages:
        raise LockError(f"{LOCK_NAME} pins no helper; `helperhub pins bump NAME VERSION` first")
    return register_references(index, repository_name(root, name), lock_references(lock))


def unregister_lock(root: Path, index: IndexSettings, name: str | None = None) -> str:
    return unregister(index, repository_name(root, name))


def index_pinners(index: IndexSettings) -> dict[tuple[str, str], list[str]]:
    """(helper, version) -> the repositories whose registered lock, still protecting, pins it."""
    from datetime import UTC, datetime

    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    found: dict[tuple[str, str], list[str]] = {}
    for reg in registrations(index):
        if str(reg.get("expires_at", "")) < now:
            continue
        for helper, version in dict(reg.get("helpers", {})).items():
            found.setdefault((helper, version), []).append(str(reg["name"]))
    return {k: sorted(v) for k, v in sorted(found.items())}
