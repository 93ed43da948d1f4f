"""Resolve a helper's closure once, at release, from the private index and for the steps'
platform, and fetch a locked closure again (a re-release on a fresh registry keeps its lock).

pip resolves (``install --dry-run --report``, wheels only, ``--python-version``/``--platform`` of
the target); what it reports becomes the lock's ``closure``: each distribution's file and
sha256, tagged with the helper extras that bring it in."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helperhub.core.errors import IntegrityError, RegistryError
from helperhub.core.fs import sha256_file
from helperhub.core.targets import TargetFacts, default_facts
from helperhub.core.tools import clean_pip_env, run_tool
from helperhub.core.wheelhouse import pip_wheel_args, runs_here, sdist_build_env, target_download_args
from helperhub.lock.closure import LockedFile
from helperhub.registry.client import IndexSettings


def resolve_args(index: IndexSettings, requirements: Sequence[str], target: TargetFacts, scratch: Path,
                 constraints: Path | None = None) -> list[str]:
    """The pip command that resolves ``requirements`` from the private index alone, wheels only,
    for ``target``, installing nothing and printing its report on stdout. (``--target`` into an
    empty ``scratch`` folder: pip before 23.3 takes platform options only with it, even with
    ``--dry-run``; nothing is written there.)"""
    platforms = [arg for p in target.platform_tags for arg in ("--platform", p)]
    trusted = [arg for h in index.trusted_hosts for arg in ("--trusted-host", h)]
    return [
        "pip", "--isolated", "install", "--dry-run", "--target", str(scratch), "--quiet", "--report", "-",
        "--no-cache-dir", "--only-binary=:all:", "--python-version", target.python,
        "--implementation", target.implementation, *platforms,
        "--index-url", index.simple_url, *trusted,
        *(["--constraint", str(constraints)] if constraints else []), *requirements,
    ]


def closure_from_report(report: Mapping[str, Any], root: str, extras: Sequence[str],
                        roots: Sequence[str], env: Mapping[str, str]) -> tuple[LockedFile, ...]:
    """The lock's closure from pip's install report: every installed distribution but ``root``
    itself, each tagged with the extras of ``root`` it is needed for (none: always)."""
    items: dict[str, Any] = {str(canonicalize_name(i["metadata"]["name"])): i for i in report["install"]}
    base = _reach(items, [*roots, root], env)
    needed_by: dict[str, set[str]] = {}
    for extra in extras:
        for name in _reach(items, [*roots, f"{root}[{extra}]"], env) - base:
            needed_by.setdefault(name, set()).add(extra)
    stray = set(items) - base - needed_by.keys()
    if stray:
        raise RegistryError(f"pip installed {sorted(stray)} that no requirement of {root} asks for; report this")
    return tuple(report_file(items[name], tuple(sorted(needed_by.get(name, ()))))
                 for name in sorted((base | needed_by.keys()) - {canonicalize_name(root)}))


def report_file(item: Mapping[str, Any], extras: tuple[str, ...] = ()) -> LockedFile:
    """One distribution of pip's install report as a locked file: name, version, file name, sha256."""
    name = canonicalize_name(item["metadata"]["name"])
    info = item.get("download_info", {})
    sha = info.get("archive_info", {}).get("hashes", {}).get("sha256", "")
    if not sha:
        raise RegistryError(f"the index gave no sha256 for {name}; its simple page must carry #sha256= links")
    return LockedFile(name, item["metadata"]["version"], info["url"].rsplit("/", 1)[-1].split("#")[0], sha, extras)


def _reach(items: Mapping[str, Any], roots: Iterable[str], env: Mapping[str, str]) -> set[str]:
    """Names of the distributions ``roots`` need under ``env``, by the report's Requires-Dist."""
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name, extras = canonicalize_name(req.name), frozenset(req.extras)
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        if name not in items:
            raise RegistryError(f"pip's report lacks {name}, which the closure needs; report this")
        found.add(name)
        for raw in items[name]["metadata"].get("requires_dist", []):
            dep = Requirement(raw)
            if dep.marker is None or any(
                dep.marker.evaluate({**env, "extra": e}) for e in (sorted(extras) or [""])
            ):
                todo.append(dep)
    return found


def resolve_closure(
    index: IndexSettings, root: str, version: str, extras: Sequence[str], kfp_version: str,
    *, also: Sequence[str] = (), locked: Iterable[LockedFile] = (), target: TargetFacts | None = None,
    wheel: Path | None = None, held: Iterable[str] = (),
) -> tuple[LockedFile, ...]:
    """Resolve ``root==version`` with all ``extras`` (and kfp, and ``also``: the helpers it
    depends on with all their extras, as its image holds them) from the private index for the
    steps' platform. ``locked``: versions that must hold (the locked closures of the helpers it
    depends on, so that one step can install both). ``wheel``: the built wheel of ``root``, to
    resolve before it is uploaded (its own file is not part of the closure). ``held``: more
    ``name==version`` constraints (the versions mirrored for this target)."""
    target = target or default_facts()
    extra = f"[{','.join(sorted(extras))}]" if extras else ""
    roots = [f"kfp=={kfp_version}", *also]
    root_req = f"{root}{extra} @ {wheel.resolve().as_uri()}" if wheel else f"{root}{extra}=={version}"
    with tempfile.TemporaryDirectory(prefix="helperhub-resolve-") as tmp:
        constraints = None
        pins = sorted({f"{f.name}=={f.version}" for f in locked} | set(held))
        if pins:
            constraints = Path(tmp) / "constraints.txt"
            constraints.write_text("\n".join(pins) + "\n", encoding="utf-8")
        out = run_tool(
            resolve_args(index, [root_req, *roots], target, Path(tmp) / "none", constraints),
            error=RegistryError, what=f"resolving the closure of {root} {version} from {index.simple_url}",
            env=clean_pip_env(),
        )
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        raise RegistryError(f"pip printed no install report while resolving {root}; is pip >= 23 installed?") from None
    return closure_from_report(report, root, sorted(extras), roots, target.marker_environment())


def fetch_locked(closure: Iterable[LockedFile], cache: Path, skip: Iterable[str] = (),
                 target: TargetFacts | None = None) -> list[Path]:
    """The files of a locked closure, from the host's wheelhouse or fetched from the host's indexes
    by exact version (for ``target``'s platform; None: this host's), each checked against its
    locked sha256 (``skip``: names not to fetch)."""
    wheelhouse = cache / "wheelhouse"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    skipped = set(skip)
    wanted = [f for f in closure if f.name not in skipped]
    missing = [f for f in wanted if not _matches(wheelhouse / f.filename, f)]
    if missing:
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            # another target's wheels by download; pure-Python ones (the sdists built here) as here
            downloads = [f for f in missing if target is not None and not runs_here(target)
                         and not f.filename.endswith("-none-any.whl")]
            builds = [f for f in missing if f not in downloads]
            what, env = "fetching the locked closure with pip", sdist_build_env(Path(tmp))
            if downloads and target is not None:
                run_tool(target_download_args([f"{f.name}=={f.version}" for f in downloads], tmp, target, no_deps=True),
                         error=RegistryError, what=what, env=env)
            if builds:
                run_tool([*pip_wheel_args([f"{f.name}=={f.version}" for f in builds], tmp), "--no-deps"],
                         error=RegistryError, what=what, env=env)
            for f in missing:
                got = Path(tmp) / f.filename
                if not got.is_file():
                    raise IntegrityError(
                        f"the host's index gives no {f.filename} for {f.name} {f.version}, which the lock pins; "
                        "fetch it from the registry that served it, or bump the helper's version"
                    )
                got.replace(wheelhouse / f.filename)
    for f in wanted:
        if not _matches(wheelhouse / f.filename, f):
            raise IntegrityError(
                f"{f.filename} from the host's index has sha256 {sha256_file(wheelhouse / f.filename)}, "
                f"the lock pins {f.sha256}; never mirror other bytes: investigate the index, or bump the version"
            )
    return [wheelhouse / f.filename for f in wanted]


def _matches(path: Path, locked: LockedFile) -> bool:
    return path.is_file() and sha256_file(path) == locked.sha256


def resolve_tool(index: IndexSettings, name: str, version: str, cache: Path,
                 target: TargetFacts | None = None) -> tuple[LockedFile, Path]:
    """A tool the steps run (uv): its wheel for ``target`` fetched on the host, and the file the
    private index will serve for it, once the returned path is published."""
    target = target or default_facts()
    wheelhouse = cache / "wheelhouse"
    wheelhouse.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        run_tool(target_download_args([f"{name}=={version}"], tmp, target, no_deps=True), error=RegistryError,
                 what=f"fetching {name} {version} for the steps' platform",
                 env=sdist_build_env(Path(tmp)))
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise RegistryError(f"pip fetched {len(wheels)} wheels for {name} {version}; expected one")
        path = wheelhouse / wheels[0].name
        wheels[0].replace(path)
    return LockedFile(canonicalize_name(name), version, path.name, sha256_file(path)), path


def served_tool(index: IndexSettings, name: str, version: str, target: TargetFacts | None = None) -> LockedFile:
    """The file the private index serves for a tool (uv) at ``version`` on the steps' platform,
    as pip picks it: what a consumer's lock pins without releasing anything."""
    target = target or default_facts()
    with tempfile.TemporaryDirectory(prefix="helperhub-resolve-") as tmp:
        out = run_tool(resolve_args(index, [f"{name}=={version}"], target, Path(tmp) / "none"), error=RegistryError,
                       what=f"finding {name} {version} in {index.simple_url}", env=clean_pip_env())
    try:
        (item,) = [i for i in json.loads(out)["install"] if canonicalize_name(i["metadata"]["name"]) == name]
        info = item["download_info"]
        sha = info["archive_info"]["hashes"]["sha256"]
    except (json.JSONDecodeError, KeyError, ValueError):
        raise RegistryError(f"the index at {index.simple_url} gave no usable file for {name} {version}") from None
    return LockedFile(name, version, info["url"].rsplit("/", 1)[-1].split("#")[0], sha)
