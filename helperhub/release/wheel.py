"""The wheel stage of a release: helper source -> tested, reproducible wheel -> index -> lock."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import ConfigError, IntegrityError, VersionError
from helperhub.core.fs import sha256_file
from helperhub.core.git import ensure_clean, head_commit, source_epoch, tag_release
from helperhub.core.progress import Reporter
from helperhub.core.wheelhouse import fetch_closure
from helperhub.lock.lockfile import PackagePin, dependency_roots, load_lock, pin_released_wheel, update_lock
from helperhub.registry.client import IndexSettings, newest_version, project_files, projects_files, verify_served
from helperhub.release.build import build_dists, run_tests
from helperhub.release.mirror import closure_requirements
from helperhub.release.project import HelperProject, source_digest
from helperhub.release.publish import publish
from helperhub.release.resolve import fetch_locked, resolve_closure
from helperhub.release.versions import read_version


@dataclass(frozen=True)
class ReleaseSettings:
    root: Path  # repository root: helpers/, pins.json
    index: IndexSettings
    cache: Path  # wheelhouse and build outputs, outside the repository's tracked files
    kfp_version: str
    allow_dirty: bool = False
    run_tests: bool = True
    tag: bool = True

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_NAME


@dataclass(frozen=True)
class WheelRelease:
    pin: PackagePin
    noop: bool
    uploaded: tuple[str, ...] = ()
    mirrored: tuple[str, ...] = ()


def release_tag(name: str, version: str) -> str:
    return f"{name}-v{version}"


def _check_local_deps(
    settings: ReleaseSettings, project: HelperProject, projects: dict[str, HelperProject]
) -> None:
    """A helper's own helper dependencies must already be in the index, or pods cannot resolve."""
    for raw in project.requires:
        req = Requirement(raw)
        name = canonicalize_name(req.name)
        if name not in projects:
            continue
        files = project_files(settings.index, name)
        versions = {f.version for f in files.values() if f.version is not None}
        if not any(req.specifier.contains(v, prereleases=True) for v in versions):
            raise ConfigError(
                f"{project.name} needs {raw} but the registry has no such release; "
                f"release it first: make release PACKAGE={name}"
            )


def _unchanged(
    settings: ReleaseSettings, project: HelperProject, version: str, source: str
) -> PackagePin | None:
    """The lock's pin, if this exact source was released (closure locked) and the index still serves
    it and every file of its closure (else the release mirrors what is missing)."""
    pin = _same_source(settings, project, version, source)
    if pin is None or not pin.closure:
        return None
    pages = projects_files(settings.index, [project.name, *(f.name for f in pin.closure)])
    files = pages[canonicalize_name(project.name)]
    wheel, sdist = files.get(pin.wheel), files.get(pin.sdist)
    if wheel is None or sdist is None or (wheel.sha256, sdist.sha256) != (pin.sha256, pin.sdist_sha256):
        return None
    for f in pin.closure:
        listed = pages[canonicalize_name(f.name)].get(f.filename)
        if listed is None or listed.sha256 != f.sha256:
            return None
    verify_served(settings.index, wheel, pin.sha256)
    return pin


def _same_source(
    settings: ReleaseSettings, project: HelperProject, version: str, source: str
) -> PackagePin | None:
    """The lock's pin of this version, if it was released from this exact source."""
    pin = load_lock(settings.lock_path).get(project.name)
    if pin is None or (pin.version, pin.source_sha256, pin.kfp_version) != (version, source, settings.kfp_version):
        return None
    return pin


def release_wheel(
    settings: ReleaseSettings,
    project: HelperProject,
    projects: dict[str, HelperProject],
    report: Reporter,
) -> WheelRelease:
    """The wheel stage of one helper: its source, tested and built reproducibly, in the index with
    its whole dependency closure, verified as served and pinned in the lock.

    Idempotent, so a release can always be run again: a version released from this exact source,
    still served with its closure, is a no-op (checked against the index, not assumed from the
    lock). Nothing of the helper is uploaded before its tests pass; a version lower than the
    index's newest stops it, and so does any file the index holds with other bytes (a released
    file never changes)."""
    root = settings.root
    version = read_version(project.version_source)
    if not settings.allow_dirty:
        ensure_clean(root)
    commit = head_commit(root)
    source = source_digest(project)

    newest = newest_version(project_files(settings.index, project.name))
    if newest is not None and version < newest:
        raise VersionError(
            f"{project.name} {version} is lower than {newest}, the newest in the registry; "
            f"set a higher version with `make bump PACKAGE={project.name} PART=patch`"
        )
    same = _unchanged(settings, project, str(version), source)
    if same is not None:
        if settings.tag:
            tag_release(root, release_tag(project.name, same.version))
        return WheelRelease(same, noop=True)

    _check_local_deps(settings, project, projects)
    build_root = settings.cache / "build"
    build_root.mkdir(parents=True, exist_ok=True)
    # The tests run beside the build and the closure mirror (third-party wheels only); nothing of
    # the helper is uploaded before they pass.
    with ThreadPoolExecutor(max_workers=2) as pool, \
            tempfile.TemporaryDirectory(prefix=f"{project.name}-", dir=build_root) as outdir:
        tests = pool.submit(run_tests, project, projects) if settings.run_tests else None
        with report.step(f"building {project.name} {version}"):
            epoch = source_epoch(root, project.path)
            dists = build_dists(project, Path(outdir) / "dist", epoch)
        reqs = closure_requirements(project, projects, settings.kfp_version)
        # a re-release of the same source keeps its locked closure, whatever the index has since
        kept = same.closure if (same := _same_source(settings, project, str(version), source)) else ()
        with report.step(f"fetching the closure of {project.name} ({len(kept) or len(reqs)} "
                         f"{'locked files' if kept else 'requirements'})"):
            wheels = (
                fetch_locked(kept, settings.cache, skip=set(projects)) if kept
                else fetch_closure(reqs, settings.cache)
            )
        with report.step(f"mirroring {len(wheels)} dependency wheels into the registry"):
            mirrored = publish(settings.index, wheels)
        # the closure is resolved beside the tests too, from the index and the built wheel
        locking = None
        if not kept:
            also, locked = dependency_roots(load_lock(settings.lock_path), project.local_deps(set(projects)),
                                            required=True)
            locking = pool.submit(resolve_closure, settings.index, project.name, str(version), project.extras,
                                  settings.kfp_version, also=also, locked=locked, wheel=dists.wheel)
        if tests is not None:
            with report.step(f"testing {project.name}"):
                tests.result()
        with report.step(f"uploading {dists.wheel.name} and {dists.sdist.name}"):
            uploaded = publish(settings.index, [dists.wheel, dists.sdist])
        wheel_sha, sdist_sha = sha256_file(dists.wheel), sha256_file(dists.sdist)
        if locking is not None:
            with report.step(f"locking the closure of {project.name} {version} for the steps' platform"):
                kept = locking.result()

    served = project_files(settings.index, project.name)
    if served[dists.wheel.name].sha256 != wheel_sha:
        raise IntegrityError(f"{dists.wheel.name} is served with another sha256 than was built")
    # the same wheel released again (into a fresh registry, say) is the same release: its lock
    # entry stays byte for byte
    pin = pin_released_wheel(
        load_lock(settings.lock_path).get(project.name),
        name=project.name, version=str(version), wheel=dists.wheel.name, sha256=wheel_sha,
        url=served[dists.wheel.name].url, index_url=settings.index.simple_url, kfp_version=settings.kfp_version,
        sdist=dists.sdist.name, sdist_sha256=sdist_sha, requires=reqs,
        depends=[str(Requirement(r)) for r in project.requires if canonicalize_name(Requirement(r).name) in projects],
        closure=kept, commit=commit, source_sha256=source,
    )
    update_lock(settings.lock_path, pin)
    if settings.tag:
        tag_release(root, release_tag(project.name, pin.version))
    return WheelRelease(
        pin,
        noop=False,
        uploaded=tuple(p.name for p in uploaded.upload),
        mirrored=tuple(p.name for p in mirrored.upload),
    )
