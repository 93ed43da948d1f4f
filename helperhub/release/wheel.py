"""The wheel stage of a release: helper source -> tested, reproducible wheel -> index -> lock."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from helperhub.core import defaults
from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import ConfigError, IntegrityError, VersionError
from helperhub.core.fs import sha256_file
from helperhub.core.git import ensure_clean, head_commit, source_epoch, tag_release
from helperhub.core.progress import Reporter
from helperhub.images.targets import ResolvedTarget, default_target
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import Lock, PackagePin, dependency_roots, load_lock, pin_released_wheel, update_lock
from helperhub.lock.target_pins import TargetPin
from helperhub.registry.client import IndexSettings, newest_version, project_files, projects_files, verify_served
from helperhub.release.build import build_dists, run_tests
from helperhub.release.closures import TargetClosure, fetch_target_closures
from helperhub.release.mirror import closure_requirements
from helperhub.release.project import HelperProject, source_digest
from helperhub.release.publish import publish
from helperhub.release.resolve import resolve_closure
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
    # the runtimes released for, the first the default: the repository's declared targets, resolved
    # (``images.targets.resolve_targets``); none declared: today's one target on BASE_IMAGE
    targets: tuple[ResolvedTarget, ...] = field(default_factory=lambda: (default_target(defaults.BASE_IMAGE),))

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_NAME


@dataclass(frozen=True)
class WheelPlan:
    """What releasing one helper takes, worked out before anything is uploaded: its version and
    source, the lock's pin when this exact release is already served (nothing to do), and else the
    closure of every target and platform, fetched on the host."""

    project: HelperProject
    version: str
    source: str
    commit: str
    requires: tuple[str, ...]
    same: PackagePin | None = None
    closures: tuple[TargetClosure, ...] = ()


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
    """The lock's pin, if this exact source was released for every target (closures locked for the
    same runtimes) and the index still serves it and every file of its closures (else the release
    mirrors what is missing)."""
    pin = _same_source(settings, project, version, source)
    if pin is None or not _covers(pin, settings.targets):
        return None
    closure = {f for t in pin.targets.values() for files in t.closure.values() for f in files}
    pages = projects_files(settings.index, [project.name, *sorted({f.name for f in closure})])
    files = pages[canonicalize_name(project.name)]
    wheel, sdist = files.get(pin.wheel), files.get(pin.sdist)
    if wheel is None or sdist is None or (wheel.sha256, sdist.sha256) != (pin.sha256, pin.sdist_sha256):
        return None
    for f in closure:
        listed = pages[canonicalize_name(f.name)].get(f.filename)
        if listed is None or listed.sha256 != f.sha256:
            return None
    verify_served(settings.index, wheel, pin.sha256)
    return pin


def _covers(pin: PackagePin, targets: tuple[ResolvedTarget, ...]) -> bool:
    """Whether ``pin`` holds exactly ``targets`` (the first its default), each with a closure on
    every platform, resolved for the runtime the target has now."""
    if set(pin.targets) != {t.name for t in targets} or pin.default_target != targets[0].name:
        return False
    for target in targets:
        pinned = pin.targets[target.name]
        if set(pinned.platforms) != set(target.platforms) or any(
            not pinned.files(p) or pinned.facts(p) != target.facts[p] for p in target.platforms
        ):
            return False
    return True


def _same_source(
    settings: ReleaseSettings, project: HelperProject, version: str, source: str
) -> PackagePin | None:
    """The lock's pin of this version, if it was released from this exact source."""
    pin = load_lock(settings.lock_path).get(project.name)
    if pin is None or (pin.version, pin.source_sha256, pin.kfp_version) != (version, source, settings.kfp_version):
        return None
    return pin


def plan_wheel(settings: ReleaseSettings, project: HelperProject, projects: dict[str, HelperProject]) -> WheelPlan:
    """Check one helper's release and fetch what it needs, uploading nothing: the tree is clean,
    the version not lower than the index's newest, and its closure fetched for every target and
    platform (a target no wheel meets stops here)."""
    root = settings.root
    version = read_version(project.version_source)
    if not settings.allow_dirty:
        ensure_clean(root)
    commit, source = head_commit(root), source_digest(project)
    newest = newest_version(project_files(settings.index, project.name))
    if newest is not None and version < newest:
        raise VersionError(
            f"{project.name} {version} is lower than {newest}, the newest in the registry; "
            f"set a higher version with `make bump PACKAGE={project.name} PART=patch`"
        )
    reqs = tuple(closure_requirements(project, projects, settings.kfp_version))
    same = _unchanged(settings, project, str(version), source)
    if same is not None:
        return WheelPlan(project, str(version), source, commit, reqs, same=same)
    # a re-release of the same source keeps its locked closures, whatever the index has since
    previous = _same_source(settings, project, str(version), source)
    closures = fetch_target_closures(project.name, list(reqs), settings.targets, settings.cache, previous,
                                     skip=set(projects))
    return WheelPlan(project, str(version), source, commit, reqs, closures=closures)


def release_wheel(
    settings: ReleaseSettings,
    project: HelperProject,
    projects: dict[str, HelperProject],
    report: Reporter,
    plan: WheelPlan | None = None,
) -> WheelRelease:
    """The wheel stage of one helper: its source, tested and built reproducibly, in the index with
    its dependency closure for every target, verified as served and pinned in the lock.

    Idempotent, so a release can always be run again: a version released from this exact source,
    still served with its closures, is a no-op (checked against the index, not assumed from the
    lock). Nothing of the helper is uploaded before its tests pass; a version lower than the
    index's newest stops it, and so does any file the index holds with other bytes (a released
    file never changes). ``plan``: ``plan_wheel``'s, when the caller checked every helper first."""
    plan = plan or plan_wheel(settings, project, projects)
    if plan.same is not None:
        if settings.tag:
            tag_release(settings.root, release_tag(project.name, plan.same.version))
        return WheelRelease(plan.same, noop=True)
    _check_local_deps(settings, project, projects)  # released earlier in this run, or before
    build_root = settings.cache / "build"
    build_root.mkdir(parents=True, exist_ok=True)
    wheels = sorted({p.name: p for c in plan.closures for p in c.wheels}.values())
    # The tests run beside the build and the closure mirror (third-party wheels only); nothing of
    # the helper is uploaded before they pass.
    with ThreadPoolExecutor(max_workers=4) as pool, \
            tempfile.TemporaryDirectory(prefix=f"{project.name}-", dir=build_root) as outdir:
        tests = pool.submit(run_tests, project, projects) if settings.run_tests else None
        with report.step(f"building {project.name} {plan.version}"):
            dists = build_dists(project, Path(outdir) / "dist", source_epoch(settings.root, project.path))
        with report.step(f"mirroring {len(wheels)} dependency wheels for {len(settings.targets)} targets"):
            mirrored = publish(settings.index, wheels)
        # each closure is resolved beside the tests too, from the index and the built wheel
        lock = load_lock(settings.lock_path)
        locking = {(c.target.name, c.platform): pool.submit(_resolve, settings, project, projects, plan, c,
                                                            lock, dists.wheel)
                   for c in plan.closures if not c.kept}
        if tests is not None:
            with report.step(f"testing {project.name}"):
                tests.result()
        with report.step(f"uploading {dists.wheel.name} and {dists.sdist.name}"):
            uploaded = publish(settings.index, [dists.wheel, dists.sdist])
        wheel_sha, sdist_sha = sha256_file(dists.wheel), sha256_file(dists.sdist)
        with report.step(f"locking the closures of {project.name} {plan.version} for "
                         f"{', '.join(t.name for t in settings.targets)}"):
            files = {key: future.result() for key, future in locking.items()}
    targets = {
        t.name: TargetPin.of(t.shared, base_image=t.pinned_base, closure={
            c.platform: c.kept or files[(t.name, c.platform)] for c in plan.closures if c.target.name == t.name
        }) for t in settings.targets
    }
    served = project_files(settings.index, project.name)
    if served[dists.wheel.name].sha256 != wheel_sha:
        raise IntegrityError(f"{dists.wheel.name} is served with another sha256 than was built")
    # the same wheel released again (into a fresh registry, say) is the same release: its lock
    # entry stays byte for byte
    pin = pin_released_wheel(
        load_lock(settings.lock_path).get(project.name),
        name=project.name, version=plan.version, wheel=dists.wheel.name, sha256=wheel_sha,
        url=served[dists.wheel.name].url, index_url=settings.index.simple_url, kfp_version=settings.kfp_version,
        sdist=dists.sdist.name, sdist_sha256=sdist_sha, requires=plan.requires,
        depends=[str(Requirement(r)) for r in project.requires if canonicalize_name(Requirement(r).name) in projects],
        targets=targets, commit=plan.commit, source_sha256=plan.source,
    )
    update_lock(settings.lock_path, pin)
    if settings.tag:
        tag_release(settings.root, release_tag(project.name, pin.version))
    return WheelRelease(
        pin,
        noop=False,
        uploaded=tuple(p.name for p in uploaded.upload),
        mirrored=tuple(p.name for p in mirrored.upload),
    )


def _resolve(settings: ReleaseSettings, project: HelperProject, projects: dict[str, HelperProject],
             plan: WheelPlan, closure: TargetClosure, lock: Lock, wheel: Path) -> tuple[LockedFile, ...]:
    """The locked closure of one platform of one target: resolved from the index for its runtime,
    held to the versions mirrored for it and to the closures of the helpers it depends on there."""
    also, locked = dependency_roots(lock, project.local_deps(set(projects)), required=True,
                                    target=closure.target.name, platform=closure.platform)
    # the dependencies' locked versions win: they are served already, and one step installs both
    fixed = {canonicalize_name(f.name) for f in locked}
    held = [f"{n}=={v}" for n, v in (parse_wheel_filename(p.name)[:2] for p in closure.wheels) if n not in fixed]
    return resolve_closure(settings.index, project.name, plan.version, project.extras, settings.kfp_version,
                           also=also, locked=locked, target=closure.facts, wheel=wheel, held=held)
