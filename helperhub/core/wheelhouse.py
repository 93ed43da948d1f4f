"""The host's wheelhouse: the wheels of a requirement set's whole closure, fetched once with pip
from the host's indexes (which image builds and pods cannot reach) and cached by that set."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import sys
import tempfile
from pathlib import Path

from helperhub.core.errors import RegistryError
from helperhub.core.fs import atomic_write_text
from helperhub.core.tools import run_tool, scrubbed_env


def closure_key(reqs: list[str]) -> str:
    ident = "\n".join([sys.implementation.cache_tag, platform.machine(), *reqs])
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


def fetch_closure(reqs: list[str], cache: Path) -> list[Path]:
    """Wheels of the whole closure of ``reqs`` for this interpreter and platform.

    Resolved with pip from the machine's configured indexes (the host can reach them; pods and
    image builds cannot), as wheels only (see ``pip_wheel_args``), and cached by the requirement
    set, so a repeated release asks no index.
    """
    wheelhouse, record = cache / "wheelhouse", cache / "closures" / f"{closure_key(reqs)}.json"
    if record.is_file():
        names = json.loads(record.read_text())
        paths = [wheelhouse / n for n in names]
        if all(p.is_file() for p in paths):
            return paths
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
