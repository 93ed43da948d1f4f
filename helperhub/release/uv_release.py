"""The installer the steps and image builds bootstrap (uv): mirrored into the private index for
the steps' platform and pinned in the lock by sha256, like every file of a closure."""

from __future__ import annotations

from helperhub.core import defaults
from helperhub.core.progress import Reporter
from helperhub.core.targets import TargetFacts
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import load_lock, modify_lock
from helperhub.registry.client import project_files
from helperhub.release.publish import publish
from helperhub.release.resolve import fetch_locked, resolve_tool
from helperhub.release.wheel import ReleaseSettings

UV = "uv"


def release_tools(settings: ReleaseSettings, report: Reporter) -> dict[str, LockedFile]:
    """uv at ``defaults.UV_VERSION`` served by the index and pinned in the lock for every platform
    of the release's targets. A lock that pins that version keeps its file (fetched again by
    version and checked, for a fresh registry)."""
    platforms = {p: t.facts[p] for t in reversed(settings.targets) for p in t.platforms}
    return {p: _release_tool(settings, p, facts, report) for p, facts in sorted(platforms.items())}


def _release_tool(settings: ReleaseSettings, platform: str, facts: TargetFacts, report: Reporter) -> LockedFile:
    locked = load_lock(settings.lock_path).platform_tools.get(UV, {}).get(platform)
    if locked is not None and locked.version == defaults.UV_VERSION:
        served = project_files(settings.index, UV).get(locked.filename)
        if served is None or served.sha256 != locked.sha256:
            with report.step(f"mirroring the locked {UV} {locked.version} for {platform}"):
                publish(settings.index, fetch_locked([locked], settings.cache, target=facts))
        return locked
    with report.step(f"mirroring {UV} {defaults.UV_VERSION} for {platform}"):
        tool, path = resolve_tool(settings.index, UV, defaults.UV_VERSION, settings.cache, target=facts)
        publish(settings.index, [path])
    modify_lock(settings.lock_path, lambda lock: lock.with_tool(tool, platform))
    return tool
