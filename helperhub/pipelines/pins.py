"""The pin commands: show the lock, bump a pin to a released version, check every pin against
the registries (failing closed), and report who pins what."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import requests
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from helperhub.core.errors import HubError, IntegrityError, LockError, RegistryError
from helperhub.images.context import ImagePin, expected_labels, label_mismatch
from helperhub.images.oci import remote_image, split_repository
from helperhub.pipelines.factory import PINS_ENV
from helperhub.registry.client import IndexSettings, fetch_sha256, project_files, verify_served
from helperhub.release.lock import Lock, PackagePin, load_lock, release_time, update_lock
from helperhub.release.versions import parse_version


def pins_rows(lock: Lock) -> list[tuple[str, str, str, str, str]]:
    """helper, version, wheel sha256 (short), image digest (short), modes it can serve."""
    rows = []
    for name in sorted(lock.packages):
        pin = lock.packages[name]
        digest = pin.image.ref.split("@", 1)[1][:19] if pin.image else "-"
        modes = "image, package" if pin.image else "package"
        rows.append((name, pin.version, pin.sha256[:12], digest, modes))
    return rows


def _wheel_requirements(
    settings: IndexSettings, url: str, helpers: set[str]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Requires-Dist of a served wheel: (third-party closure roots, helper dependencies)."""
    try:
        data = requests.get(url, timeout=(5, 60)).content
    except requests.RequestException:
        raise RegistryError(f"cannot download {url}; is the registry at {settings.base} up?") from None
    with zipfile.ZipFile(io.BytesIO(data)) as whl:
        meta = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        lines = whl.read(meta).decode().splitlines()
    third: set[str] = set()
    local: set[str] = set()
    for line in lines:
        if line.startswith("Requires-Dist:"):
            req = Requirement(line.split(":", 1)[1].strip())
            req.marker = None
            (local if canonicalize_name(req.name) in helpers else third).add(str(req))
    return tuple(sorted(third)), tuple(sorted(local))


def bump_pin(
    lock_path: Path, name: str, version: str, index: IndexSettings, oci_registry: str | None,
    helpers: set[str], kfp_version: str,
) -> PackagePin:
    """Point the lock at a version that is already released: the wheel's sha256 from the index
    (and verified by download), the image digest from the OCI registry (labels verified)."""
    name = canonicalize_name(name)
    wanted = parse_version(version)
    files = project_files(index, name)
    wheels = [
        f for f in files.values()
        if f.filename.endswith(".whl") and parse_wheel_filename(f.filename)[1] == wanted
    ]
    if not wheels:
        raise LockError(f"{name} {version} is not in the registry at {index.base}; release it with `make release`")
    wheel = wheels[0]
    verify_served(index, wheel, wheel.sha256)
    sdists = [f for f in files.values() if f.filename.endswith(".tar.gz") and f.version == wanted]
    old = load_lock(lock_path).get(name)
    third, local = _wheel_requirements(index, wheel.url, helpers)
    pin = PackagePin(
        name=name, version=str(wanted), wheel=wheel.filename, sha256=wheel.sha256, url=wheel.url,
        index_url=index.simple_url, kfp_version=kfp_version,
        commit=old.commit if old and old.version == str(wanted) else "",
        released_at=old.released_at if old and old.version == str(wanted)
        else release_time(),
        source_sha256=old.source_sha256 if old and old.version == str(wanted) else "",
        sdist=sdists[0].filename if sdists else "", sdist_sha256=sdists[0].sha256 if sdists else "",
        requires=tuple(sorted({*third, f"kfp=={kfp_version}"})), depends=local,
    )
    if oci_registry:
        repo = f"{oci_registry}/{name}"
        remote = remote_image(repo, str(wanted))
        if remote is not None:
            bad = label_mismatch(expected_labels(pin), remote.labels)
            if bad:
                raise IntegrityError(
                    f"{repo}:{wanted} does not hold this wheel ({bad[0]}); rebuild it with a new version"
                )
            pin = replace(pin, commit=pin.commit or remote.labels.get("org.opencontainers.image.revision", ""))
            pin = pin.with_image(ImagePin(
                ref=f"{repo}@{remote.digest}", tag=f"{repo}:{wanted}",
                base_image=remote.labels.get("org.opencontainers.image.base.name", ""), registry=oci_registry,
            ))
    update_lock(lock_path, pin)
    return pin


@dataclass(frozen=True)
class PinProblem:
    name: str
    message: str


def check_pins(lock: Lock) -> list[PinProblem]:
    """Every pin must be served with its recorded sha256, and its image must exist by digest.
    An unreachable registry is a problem, never a pass."""
    if not lock.packages:
        return [PinProblem("-", "pins.json has no pins; run `make release`")]
    problems = []
    for name, pin in sorted(lock.packages.items()):
        index = IndexSettings(pin.index_url)
        try:
            listed = project_files(index, name).get(pin.wheel)
            if listed is None:
                problems.append(PinProblem(name, f"{pin.wheel} is not in the index {pin.index_url}"))
            elif listed.sha256 != pin.sha256:
                problems.append(PinProblem(name, f"index lists sha256 {listed.sha256}, lock has {pin.sha256}"))
            elif (served := fetch_sha256(index, listed.url)) != pin.sha256:
                problems.append(PinProblem(name, f"{pin.wheel} downloads with sha256 {served}, lock has {pin.sha256}"))
            if pin.image is not None:
                repo, digest = pin.image.ref.split("@", 1)
                split_repository(repo)
                remote = remote_image(repo, digest)
                if remote is None:
                    problems.append(PinProblem(name, f"image {pin.image.ref} is not in the OCI registry"))
                elif (bad := label_mismatch(expected_labels(pin), remote.labels)):
                    problems.append(PinProblem(name, f"image {pin.image.ref} holds something else: {bad[0]}"))
        except HubError as exc:
            problems.append(PinProblem(name, str(exc)))
    return problems


@dataclass(frozen=True)
class Usage:
    helper: str
    version: str
    pipeline: str
    component: str
    file: str
    mode: str


SKIP_DIRS = {".git", ".venv", ".hub", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}


def who_pins(root: Path) -> list[Usage]:
    """Which compiled pipelines (any KFP IR YAML under ``root``) use which helper versions."""
    usages = []
    for path in sorted(root.rglob("*.yaml")):
        if SKIP_DIRS & set(path.relative_to(root).parts):
            continue
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        for doc in docs:
            if not isinstance(doc, dict) or "deploymentSpec" not in doc:
                continue
            pipeline = doc.get("pipelineInfo", {}).get("name", "?")
            for executor, spec in sorted(doc["deploymentSpec"].get("executors", {}).items()):
                env = {e["name"]: e.get("value", "") for e in spec.get("container", {}).get("env", [])}
                for entry in json.loads(env.get(PINS_ENV, "[]")):
                    usages.append(Usage(entry["name"], entry["version"], pipeline,
                                        executor.removeprefix("exec-"), str(path.relative_to(root)), entry["mode"]))
    return usages
