"""`env lock`: turn each declared environment into exact files, per target and platform.

The helpers come at the lock's pins, their closures fixed: never moved, never resolved again. The
extra packages are resolved against them (every helper file held at its locked version), from the
private index alone; what it lacks is first fetched on the host from the host's indexes and
mirrored into it with the team's login, so that pods never reach a public index. A conflict
between an extra and a helper stops everything with one line, before anything is uploaded or
written. An environment whose inputs did not change is kept as it is, byte for byte."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helperhub.core.defaults import LOCK_NAME
from helperhub.core.envspec import EnvironmentSpec
from helperhub.core.errors import ConfigError, HubError, LockError, RegistryError
from helperhub.core.progress import Reporter
from helperhub.core.targets import MACHINES, TargetFacts
from helperhub.core.tools import clean_pip_env, failure_line
from helperhub.core.wheelhouse import sdist_build_env, target_download_args
from helperhub.lock.closure import LockedFile, for_extras, merge
from helperhub.lock.environments import EnvironmentPin, HelperUse, ModulePin, inputs_digest
from helperhub.lock.lockfile import Lock, PackagePin, load_lock, modify_lock
from helperhub.lock.target_pins import TargetPin
from helperhub.pipelines.env_modules import module_pin, module_requirements
from helperhub.pipelines.env_step import moved_helpers
from helperhub.registry.client import IndexSettings, record_mirror_on_index
from helperhub.release.publish import publish
from helperhub.release.resolve import report_file, resolve_args

CONFLICT = "The conflict is caused by:"
_REQUESTED = re.compile(r"The user requested (?:\(constraint\) )?(?P<req>.+)")


@dataclass(frozen=True)
class EnvLockSettings:
    """Where and how ``env lock`` resolves (built once by the CLI, or by a test)."""

    root: Path
    index: IndexSettings
    offline: bool = False  # resolve from the private index alone: mirror nothing
    upgrade: bool = False  # let every extra package move to the newest the helpers allow
    upgrade_packages: frozenset[str] = field(default_factory=frozenset)  # ... or only these


@dataclass(frozen=True)
class Locked:
    """One environment as ``env lock`` left it: its pin, whether it was resolved anew, and the
    files it mirrored into the index."""

    pin: EnvironmentPin
    resolved: bool
    mirrored: tuple[str, ...] = ()


def lock_environments(settings: EnvLockSettings, specs: Mapping[str, EnvironmentSpec], names: Sequence[str],
                      report: Reporter) -> list[Locked]:
    """Lock the environments ``names`` (none: every declared one) and write them into the lock
    together: all, or none when one fails."""
    if not specs:
        raise ConfigError(f"{settings.root / 'pyproject.toml'} declares no environment; add a "
                          "[tool.helperhub.environments.<name>] table (docs/pipeline-authors.md)")
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise ConfigError(f"no environment {unknown[0]!r} in pyproject.toml; it declares {', '.join(specs)}")
    lock_path = settings.root / LOCK_NAME
    lock = load_lock(lock_path)
    done = [lock_environment(settings, lock, specs[n], report) for n in (names or sorted(specs))]

    def change(current: Lock) -> Lock:
        for item in done:
            current = current.with_environment(item.pin)
        return current

    modify_lock(lock_path, change)
    return done


def stale_environments(lock: Lock) -> list[str]:
    """The locked environments one of whose helpers the lock pins at another release now."""
    return [name for name, env in sorted(lock.environments.items()) if moved_helpers(env, lock)]


def relock_stale(settings: EnvLockSettings, specs: Mapping[str, EnvironmentSpec], lock: Lock,
                 report: Reporter) -> list[EnvironmentPin]:
    """The declared environments that a bump made stale in ``lock``, locked again against it (their
    extra packages keep their versions where the new helpers allow them)."""
    return [lock_environment(settings, lock, specs[n], report).pin for n in stale_environments(lock) if n in specs]


def helper_uses(lock: Lock, spec: EnvironmentSpec) -> list[tuple[HelperUse, PackagePin]]:
    """The environment's helpers at the lock's pins; an unpinned one says how to pin it."""
    out = []
    for req in spec.helper_requirements():
        name = canonicalize_name(req.name)
        pin = lock.require(name, fix=f"helperhub pins bump {name} <version>")
        out.append((HelperUse(name, pin.version, pin.sha256, tuple(sorted(req.extras))), pin))
    return out


def environment_targets(spec: EnvironmentSpec, pins: Sequence[PackagePin]) -> list[str]:
    """The targets to lock: those declared (each must be released for every helper), else every
    target all its helpers were released for, in the first helper's order."""
    if spec.targets:
        for target in spec.targets:
            for pin in pins:
                if target not in pin.targets:
                    raise LockError(f"environment {spec.name}: {pin.name} {pin.version} was not released for target "
                                    f"{target!r} (it was for {', '.join(pin.targets)}); bump it to a release that "
                                    "was, or drop the target")
        return list(spec.targets)
    shared = [t for t in pins[0].targets if all(t in p.targets for p in pins)]
    if not shared:
        raise LockError(f"environment {spec.name}: its helpers share no target ("
                        + "; ".join(f"{p.name} {p.version}: {', '.join(p.targets)}" for p in pins)
                        + "); release them for one target, or split the environment")
    return shared


def lock_environment(settings: EnvLockSettings, lock: Lock, spec: EnvironmentSpec, report: Reporter) -> Locked:
    """One environment's pin: kept when nothing it was resolved from changed (and no upgrade was
    asked for), else resolved for each target and platform."""
    uses = helper_uses(lock, spec)
    pins = [p for _, p in uses]
    targets = environment_targets(spec, pins)
    modules = tuple(module_pin(settings.root, m) for m in spec.modules)
    # what the team's modules declare they need is resolved with the packages it names
    packages = tuple(dict.fromkeys([*spec.packages, *(str(Requirement(r)) for m in spec.modules
                                                       for r in module_requirements(settings.root, m))]))
    inputs = inputs_digest({
        "helpers": [u.to_json() for u, _ in uses], "packages": list(packages), "targets": targets,
        "runtimes": {t: [[p.require_target(t).python, *p.require_target(t).glibc] for p in pins] for t in targets},
        "index": settings.index.simple_url,
    })
    old = lock.environments.get(spec.name)
    moving = settings.upgrade or settings.upgrade_packages
    if old is not None and old.inputs == inputs and not moving:
        kept = replace(old, modules=modules, targets=_modules_changed(old, modules))
        return Locked(kept, resolved=False)
    upgraded = {canonicalize_name(n) for n in settings.upgrade_packages}
    held = {} if settings.upgrade or old is None else {
        (t, p): {f.name: f.version for f in files if f.name not in upgraded}
        for t, target_pin in old.targets.items() for p, files in target_pin.closure.items()
    }
    platforms: list[Platform] = []
    for target in targets:
        there = [p.require_target(target) for p in pins]
        _same_runtime(spec.name, target, pins, there)
        shared = [m for m in MACHINES if all(m in t.closure for t in there)]
        if not shared:
            raise LockError(f"environment {spec.name}: its helpers have files of target {target} for no common "
                            "platform; release them for one platform")
        for platform in shared:
            where = f"environment {spec.name}, target {target} ({platform})"
            files, owners = _helper_files(uses, target, platform, where)
            # every file of the helpers' images holds too (their other extras): an environment
            # image adds to a helper image, never replaces what it holds
            in_images = {f.name: f for t in there for f in t.files(platform)}
            for helper, t in zip(pins, there, strict=True):
                for f in t.files(platform):
                    owners.setdefault(f.name, f"{helper.name} {helper.version}")
            platforms.append(Platform(target, platform, there[0].facts(platform), tuple(files), owners, where,
                                      tuple(in_images.values())))
    extras, mirrored = resolve_extras(settings, packages, platforms, held, report) if packages else ({}, [])
    locked: dict[str, TargetPin] = {}
    for target in targets:
        closure = {p.platform: tuple(sorted([*p.helper_files, *extras.get(p.key, ())]))
                   for p in platforms if p.target == target}
        previous = old.targets.get(target) if old is not None else None
        fresh = replace(pins[0].require_target(target), base_image="", image=None, closure=closure)
        same = previous is not None and previous.closure == closure and old is not None and old.modules == modules
        locked[target] = previous if same and previous is not None else fresh
    pin = EnvironmentPin(spec.name, tuple(u for u, _ in uses), packages, modules, settings.index.simple_url,
                         inputs, locked)
    return Locked(pin, resolved=True, mirrored=tuple(mirrored))


@dataclass(frozen=True)
class Platform:
    """One platform of one target of an environment: what its helpers bring there."""

    target: str
    platform: str
    facts: TargetFacts
    helper_files: tuple[LockedFile, ...]
    owners: Mapping[str, str]  # name -> the helper release that locks it
    where: str  # "environment scoring, target py311 (linux/amd64)"
    images_hold: tuple[LockedFile, ...] = ()  # the files of the helpers' images (every extra)

    @property
    def key(self) -> tuple[str, str]:
        return self.target, self.platform

    def constraints(self, held: Mapping[str, str]) -> list[str]:
        """Every file of the helpers (and of their images) at its version, and ``held`` extras
        (their earlier picks)."""
        fixed = {f.name: f.version for f in (*self.images_hold, *self.helper_files)}
        return [*(f"{n}=={v}" for n, v in sorted(fixed.items())),
                *(f"{n}=={v}" for n, v in sorted(held.items()) if n not in fixed)]


def _modules_changed(old: EnvironmentPin, modules: tuple[ModulePin, ...]) -> dict[str, TargetPin]:
    """The old targets; their images go when the team's modules changed (the image holds them)."""
    if old.modules == modules:
        return old.targets
    return {n: replace(t, image=None, base_image="") for n, t in old.targets.items()}


def _same_runtime(env: str, target: str, pins: Sequence[PackagePin], there: Sequence[TargetPin]) -> None:
    runtimes = {(t.python, t.implementation, t.glibc) for t in there}
    if len(runtimes) > 1:
        named = "; ".join(f"{p.name} {p.version}: Python {t.python}, glibc {t.glibc[0]}.{t.glibc[1]}"
                          for p, t in zip(pins, there, strict=True))
        raise LockError(f"environment {env}: its helpers were released for different runtimes as target {target} "
                        f"({named}); release them on one base image")


def _helper_files(uses: Sequence[tuple[HelperUse, PackagePin]], target: str, platform: str,
                  where: str) -> tuple[list[LockedFile], dict[str, str]]:
    """Every file the helpers bring on ``platform``: their wheels and their closures for the extras
    named, as one set (two helpers locking one name at two files: an error); and which helper
    locks each name."""
    groups = []
    owners: dict[str, str] = {}
    for use, pin in uses:
        # every file is installed: the helpers' extra tags say nothing in an environment
        files = [replace(f, extras=()) for f in for_extras(pin.require_target(target).files(platform), use.extras)]
        files.append(pin.wheel_file())
        groups.append((f"{pin.name} {pin.version}", files))
        for f in files:
            owners.setdefault(f.name, f"{pin.name} {pin.version}")
    try:
        return merge(groups), owners
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def resolve_extras(
    settings: EnvLockSettings, packages: Sequence[str], platforms: Sequence[Platform],
    held: Mapping[tuple[str, str], Mapping[str, str]], report: Reporter,
) -> tuple[dict[tuple[str, str], list[LockedFile]], list[str]]:
    """The files the extra ``packages`` add on each platform, resolved from the private index with
    every helper file held at its version (``held``: the extras' earlier picks per target and
    platform, let go only where they conflict); and the files mirrored into the index first: every platform's wheels are
    fetched on the host before any is uploaded, so a conflict leaves the index as it was."""
    with tempfile.TemporaryDirectory(prefix="helperhub-env-") as tmp:
        chosen: dict[tuple[str, str], Path] = {}
        fetched: list[Path] = []
        for n, platform in enumerate(platforms):
            folder = Path(tmp, str(n))
            folder.mkdir()
            kept = held.get(platform.key, {})
            for attempt in (kept, {}) if kept else ({},):
                constraints = folder / "constraints.txt"
                constraints.write_text("".join(f"{c}\n" for c in platform.constraints(attempt)), encoding="utf-8")
                try:
                    if not settings.offline:
                        report.info(f"fetching the packages of {platform.where} on the host")
                        fetched += _fetch(packages, platform, constraints, folder)
                    else:
                        _resolve(settings.index, packages, constraints, platform, folder)
                    break
                except ConfigError:
                    if not attempt:
                        raise
            chosen[platform.key] = constraints
        mirrored = [p.name for p in publish(settings.index, fetched).upload] if fetched else []
        if mirrored:
            try:  # third-party in the catalog, not a helper that a plain upload would make it
                record_mirror_on_index(settings.index, mirrored)
            except HubError as exc:
                report.warn(f"the index lists the files mirrored for the environment as uploads: {exc}")
        out = {}
        for n, platform in enumerate(platforms):
            report.info(f"resolving {platform.where} from {settings.index.base}")
            resolved = _resolve(settings.index, packages, chosen[platform.key], platform, Path(tmp, str(n)))
            names = {f.name for f in platform.helper_files}
            out[platform.key] = [f for f in (report_file(item) for item in resolved["install"]) if f.name not in names]
    return out, sorted(set(mirrored))


def _resolve(index: IndexSettings, packages: Sequence[str], constraints: Path, platform: Platform,
             tmp: Path) -> dict[str, Any]:
    """pip's install report of ``packages`` with the constraints, from the private index alone."""
    args = resolve_args(index, list(packages), platform.facts, tmp / "none", constraints)
    out = _run_pip(args, clean_pip_env(), f"resolving the packages of {platform.where} from {index.simple_url}",
                   platform)
    try:
        return dict(json.loads(out))
    except json.JSONDecodeError:
        raise RegistryError("pip printed no install report; is pip >= 23 installed?") from None


def _fetch(packages: Sequence[str], platform: Platform, constraints: Path, tmp: Path) -> list[Path]:
    """The wheels the packages need on this platform, fetched on the host from its indexes (the
    helpers' own files aside, which the private index has)."""
    dest = tmp / "fetched"
    _run_pip(target_download_args(list(packages), dest, platform.facts, constraints=constraints),
             sdist_build_env(tmp), f"fetching the packages of {platform.where} from the host's indexes", platform)
    names = {f.name for f in platform.helper_files}
    return sorted(p for p in dest.glob("*.whl") if canonicalize_name(p.name.split("-")[0]) not in names)


def _run_pip(args: list[str], env: dict[str, str], what: str, platform: Platform) -> str:
    """Run pip; a resolution conflict is one line naming both sides, any other failure pip's last."""
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env)
    if proc.returncode == 0:
        return proc.stdout
    causes = conflict_causes(proc.stdout + "\n" + proc.stderr, platform.owners)
    if causes:
        raise ConfigError(f"{platform.where}: its packages conflict with its helpers: {'; '.join(causes)}; loosen the "
                          "package's requirement or pin other helper versions (nothing was written)")
    raise RegistryError(f"{what} failed: {failure_line(proc.stdout, proc.stderr, proc.returncode)}")


def conflict_causes(output: str, owners: Mapping[str, str]) -> list[str]:
    """pip's "The conflict is caused by:" lines, each helper-locked requirement named with the
    helper that locks it: ``numpy==2.3.5 (locked by tabular-helpers 1.0.0)``."""
    lines = output.splitlines()
    if not any(CONFLICT in line for line in lines):
        return []
    start = next(i for i, line in enumerate(lines) if CONFLICT in line) + 1
    causes = []
    for line in lines[start:]:
        text = line.strip()
        if not text:
            break
        asked = _REQUESTED.fullmatch(text)
        if asked is None:
            causes.append(text)
            continue
        req = asked["req"]
        owner = owners.get(canonicalize_name(Requirement(req).name)) if _parses(req) else None
        causes.append(f"{req} (locked by {owner})" if owner and "==" in req else f"{req} (asked by the environment)")
    return causes


def _parses(text: str) -> bool:
    try:
        Requirement(text)
    except ValueError:
        return False
    return True
