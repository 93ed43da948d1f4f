"""The host's wheelhouse: the wheels of a requirement set's whole closure, fetched once with pip
from the host's indexes (which image builds and pods cannot reach) and cached by that set."""

from __future__ import annotations

import hashlib
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from helperhub.core.errors import RegistryError
from helperhub.core.fs import atomic_write_text
from helperhub.core.targets import TargetFacts
from helperhub.core.tools import run_tool, scrubbed_env

_NO_MATCH = re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)(\S*)")
_SKIPPED = re.compile(r"Skipping link: none of the wheel's tags .*?: (\S+\.whl)")


def closure_key(reqs: list[str], target: TargetFacts | None = None) -> str:
    where = [sys.implementation.cache_tag, platform.machine()] if target is None else [repr(target)]
    ident = "\n".join([*where, *reqs])
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


# Projects published only as an sdist that the closure may build from source anyway: each is a
# reviewed exception to "wheels only", since its build code runs on the release host.
# kfp-server-api (kfp's own API client) has no wheel on PyPI, and every closure holds kfp.
SDIST_BUILDS = ("kfp-server-api",)
# Builds of those sdists give the same bytes on every host (zip times from SOURCE_DATE_EPOCH), so a
# second host's mirror matches the registry's copy instead of stopping the release as a conflict.
SDIST_EPOCH = "315532800"  # 1980-01-01, the earliest time a zip entry can carry
# ... and with one build backend: its version is written into the wheel (WHEEL's Generator), so a
# newer setuptools on the host's index would otherwise change the bytes the lock pins.
SDIST_BACKEND = ("setuptools==84.2.1",)


def sdist_build_env(folder: Path) -> dict[str, str]:
    """The environment of a `pip wheel` that may build SDIST_BUILDS: the machine's pip settings
    (its indexes) stay, the release's credentials do not; build time and backend are fixed (pip
    passes PIP_CONSTRAINT on to the isolated build environment it installs the backend into)."""
    constraints = folder / "sdist-backend.txt"
    constraints.write_text("\n".join(SDIST_BACKEND) + "\n", encoding="utf-8")
    return scrubbed_env({"SOURCE_DATE_EPOCH": SDIST_EPOCH, "PIP_CONSTRAINT": str(constraints)}, keep_pip=True)


def pip_wheel_args(reqs: list[str], wheel_dir: Path | str, sdist_builds: tuple[str, ...] = SDIST_BUILDS) -> list[str]:
    """The `pip wheel` command line: wheels only (an sdist's build code would run on the release
    host), except the named, reviewed ``sdist_builds``."""
    only_sdists = [f"--no-binary={','.join(sdist_builds)}"] if sdist_builds else []
    # --no-cache-dir: pip's own wheel cache may hold a build of the same sdist made without
    # SOURCE_DATE_EPOCH (by a `pip install` of the host, say), whose bytes no other host repeats
    return [
        "pip", "wheel", "--quiet", "--progress-bar", "off", "--no-cache-dir", "--only-binary=:all:", *only_sdists,
        "--wheel-dir", str(wheel_dir), *reqs,
    ]


def _cached(cache: Path, key: str) -> list[Path] | None:
    record = cache / "closures" / f"{key}.json"
    if record.is_file():
        paths = [cache / "wheelhouse" / n for n in json.loads(record.read_text())]
        if all(p.is_file() for p in paths):
            return paths
    return None


def fetch_closure(reqs: list[str], cache: Path, target: TargetFacts | None = None) -> list[Path]:
    """Wheels of the whole closure of ``reqs`` for this interpreter and platform, or for ``target``.

    Resolved with pip from the machine's configured indexes (the host can reach them; pods and
    image builds cannot), as wheels only (see ``pip_wheel_args``), and cached by the requirement
    set, so a repeated release asks no index. Another target's closure keeps this host's versions
    wherever that target has wheels of them (``fetch_target_closure``).
    """
    if target is not None and not runs_here(target):
        return fetch_target_closure(reqs, cache, target)
    wheelhouse, record = cache / "wheelhouse", cache / "closures" / f"{closure_key(reqs)}.json"
    found = _cached(cache, closure_key(reqs))
    if found is not None:
        return found
    wheelhouse.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        try:
            run_tool(
                pip_wheel_args(reqs, tmp), error=RegistryError, what="fetching the dependency closure with pip",
                env=sdist_build_env(Path(tmp)),
            )
        except RegistryError as exc:
            if "matching distribution" not in str(exc):
                raise
            raise RegistryError(
                f"{exc}; the closure is mirrored as wheels only: pin a version that has a wheel for "
                f"this platform, or (for a project you trust to build) add it to SDIST_BUILDS in {__name__}"
            ) from None
        names = sorted(p.name for p in Path(tmp).iterdir() if p.suffix == ".whl")
        for name in names:
            if not (wheelhouse / name).exists():
                shutil.move(str(Path(tmp) / name), wheelhouse / name)
    atomic_write_text(record, json.dumps(names, indent=1))
    return [wheelhouse / n for n in names]


def runs_here(target: TargetFacts) -> bool:
    """Whether this host's interpreter is of ``target`` (its Python, implementation and CPU), so
    that the host's own closure (sdists built here included) is that target's too."""
    return (target.python, target.implementation, target.machine) == (
        f"{sys.version_info[0]}.{sys.version_info[1]}", "cp" if sys.implementation.name == "cpython" else "pp",
        platform.machine())


def target_download_args(reqs: Sequence[str], dest: Path | str, target: TargetFacts, *, find_links: Path | None = None,
                         constraints: Path | None = None, no_deps: bool = False) -> list[str]:
    """`pip download` of the wheels of ``reqs`` for ``target`` (not this host) from the host's
    indexes: its Python, implementation and platform tags, wheels only."""
    platforms = [arg for p in target.platform_tags for arg in ("--platform", p)]
    return [
        "pip", "download", "--progress-bar", "off", "--only-binary=:all:",  # not --quiet: errors explain at info level
        "--python-version", target.python, "--implementation", target.implementation, *platforms,
        *(["--no-deps"] if no_deps else []),
        *(["--find-links", str(find_links)] if find_links else []),
        *(["--constraint", str(constraints)] if constraints else []),
        "--dest", str(dest), *reqs,
    ]


def describe(target: TargetFacts) -> str:
    """``CPython 3.13 on aarch64 (glibc 2.41)``."""
    impl = {"cp": "CPython", "pp": "PyPy"}.get(target.implementation, target.implementation)
    return f"{impl} {target.python} on {target.machine} (glibc {target.glibc[0]}.{target.glibc[1]})"


def fetch_target_closure(reqs: list[str], cache: Path, target: TargetFacts) -> list[Path]:
    """Wheels of the closure of ``reqs`` for ``target``, fetched without running anything of it.

    The host's closure comes first (it builds the reviewed sdists, whose wheels are pure Python
    and serve every target); then pip downloads the target's wheels held to the host's versions,
    letting go of a version only where the target has no wheel of it, so the platforms of a release
    differ only where they must. A package with no wheel for the target at all stops the release
    with one line: the package, the target and the wheels that exist (``UnmetTarget``)."""
    key = closure_key(reqs, target)
    found = _cached(cache, key)
    if found is not None:
        return found
    host = fetch_closure(reqs, cache)
    pinned = {canonicalize_name(parse_wheel_filename(p.name)[0]): str(parse_wheel_filename(p.name)[1]) for p in host}
    wheelhouse = cache / "wheelhouse"
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        built = Path(tmp) / "built"
        built.mkdir()
        for path in host:  # the sdists built on the host: pure-Python wheels no index has
            if canonicalize_name(parse_wheel_filename(path.name)[0]) in SDIST_BUILDS:
                shutil.copy2(path, built / path.name)
        dest, constraints = Path(tmp) / "dest", Path(tmp) / "constraints.txt"
        for _ in range(len(pinned) + 1):
            constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pinned.items())), encoding="utf-8")
            args = target_download_args(reqs, dest, target, find_links=built, constraints=constraints)
            failed = _pip(args, sdist_build_env(Path(tmp)))
            if failed is None:
                break
            missing = unmatched(failed)
            if not missing:
                raise RegistryError(f"fetching the closure for {describe(target)} failed: {_last_line(failed)}")
            held = [n for n in missing if n in pinned]
            for name in held:  # no wheel of the host's version here: let this one differ
                del pinned[canonicalize_name(name)]
            if not held:
                wanted = next((r for r in reqs if canonicalize_name(re.split(r"[\s\[<>=!~;@]", r)[0]) == missing[0]),
                              missing[0])
                raise unmet_target(wanted, target, cache)
        names = sorted(p.name for p in dest.iterdir() if p.suffix == ".whl")
        wheelhouse.mkdir(parents=True, exist_ok=True)
        for name in names:
            if not (wheelhouse / name).exists():
                shutil.move(str(dest / name), wheelhouse / name)
    atomic_write_text(cache / "closures" / f"{key}.json", json.dumps(names, indent=1))
    return [wheelhouse / n for n in names]


def _pip(args: Sequence[str], env: dict[str, str]) -> str | None:
    """Run pip; None when it succeeds, else everything it printed (its errors span many lines)."""
    proc = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, env=env, check=False)
    return None if proc.returncode == 0 else proc.stdout + "\n" + proc.stderr


def _last_line(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and not ln.startswith(("WARNING", "[notice]"))]
    return lines[-1] if lines else "pip failed"


def unmatched(output: str) -> list[str]:
    """The projects pip found no wheel of for the environment asked for, from its error output:
    "No matching distribution found for X" or, after a conflict, the names listed under "have no
    matching distributions available for your environment"."""
    names = [m[1] for m in _NO_MATCH.finditer(output)]
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if "no matching distributions available for your environment" in line:
            for item in lines[i + 1:]:
                if not item.startswith(" ") or not item.strip():
                    break
                names.append(item.strip())
    return list(dict.fromkeys(str(canonicalize_name(n)) for n in names))


def newest_files(names: set[str], requirement: str) -> list[str]:
    """Of wheel file names, those of the newest version ``requirement`` allows."""
    spec = Requirement(requirement).specifier
    by_version: dict[Version, list[str]] = {}
    for name in names:
        try:
            version = parse_wheel_filename(name)[1]
        except InvalidWheelFilename:
            continue
        if spec.contains(version, prereleases=True):
            by_version.setdefault(version, []).append(name)
    return sorted(by_version[max(by_version)]) if by_version else []


def unmet_target(requirement: str, target: TargetFacts, cache: Path, shown: int = 6) -> RegistryError:
    """The error of a requirement no wheel of ``target`` meets, naming the wheels that do exist
    (pip lists the files it skipped, with -vv)."""
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        out = _pip([*target_download_args([requirement], tmp, target, no_deps=True), "-vv"],
                   scrubbed_env({}, keep_pip=True)) or ""
    files = newest_files({url.rsplit("/", 1)[-1] for url in _SKIPPED.findall(out)}, requirement)
    exist = ", ".join(files[:shown]) + (f" and {len(files) - shown} more" if len(files) > shown else "")
    return RegistryError(
        f"{requirement} has no wheel for {describe(target)}; wheels that exist: {exist or 'none'}; "
        "pin a version with a wheel for it, or drop the platform from the target"
    )
