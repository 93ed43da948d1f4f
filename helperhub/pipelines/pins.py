"""The pin commands: show the lock and a pin's locked closure, diff the closures of two versions
(from the lock or its git history), bump a pin to a released version (closure re-resolved),
check every pin and closure file against the registries (failing closed), and report who pins what."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import requests
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from helperhub.core import defaults
from helperhub.core.defaults import LOCK_NAME
from helperhub.core.errors import HubError, IntegrityError, LockError, RegistryError
from helperhub.core.metadata import wheel_metadata
from helperhub.images.context import CLOSURE_LABEL, expected_labels, label_mismatch
from helperhub.images.oci import remote_image, split_repository
from helperhub.images.target_context import target_labels
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import (
    ImagePin,
    Lock,
    PackagePin,
    dependency_roots,
    load_lock,
    modify_lock,
    pin_released_wheel,
)
from helperhub.pipelines.factory import PINS_ENV
from helperhub.registry.client import (
    IndexFile,
    IndexSettings,
    fetch_sha256,
    project_files,
    verify_served,
    yanked_versions,
)
from helperhub.release.resolve import resolve_closure, served_tool
from helperhub.release.versions import parse_version


def pins_rows(lock: Lock) -> list[tuple[str, str, str, str, str, str]]:
    """helper, version, wheel sha256 (short), image digest (short), modes it can serve, and how
    many files its locked closure has (0: an old pin that cannot say what to install)."""
    rows = []
    for name in sorted(lock.packages):
        pin = lock.packages[name]
        digest = pin.image.ref.split("@", 1)[1][:19] if pin.image else "-"
        modes = "image, package" if pin.image else "package"
        rows.append((name, pin.version, pin.sha256[:12], digest, modes, str(len(pin.closure))))
    return rows


def closure_rows(lock: Lock, name: str) -> list[tuple[str, str, str, str, str]]:
    """name, version, filename, sha256 (short), extras ("-": every install needs it) of each file
    of a pin's locked closure: what a step installs with the helper."""
    pin = lock.get(canonicalize_name(name))
    if pin is None:
        raise LockError(
            f"no pin for {name!r} in {LOCK_NAME}; pinned helpers: {', '.join(sorted(lock.packages)) or 'none'}"
        )
    return [
        (f.name, f.version, f.filename, f.sha256[:12], ", ".join(f.extras) or "-")
        for f in sorted(pin.require_closure())
    ]


def _wheel_requirements(
    settings: IndexSettings, url: str, helpers: set[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Requires-Dist and Provides-Extra of a served wheel: (third-party closure roots, helper
    dependencies, extras); the closure is locked for every extra, as the image holds them all."""
    try:
        resp = requests.get(url, timeout=(5, 60))
    except requests.RequestException:
        raise RegistryError(f"cannot download {url}; is the registry at {settings.base} up?") from None
    if resp.status_code != 200:
        raise RegistryError(f"{url} answered {resp.status_code}; the wheel is not served by {settings.base}")
    meta = wheel_metadata(resp.content, url.rsplit("/", 1)[-1])
    third: set[str] = set()
    local: set[str] = set()
    for raw in meta.requires_dist:
        req = Requirement(raw)
        req.marker = None
        (local if canonicalize_name(req.name) in helpers else third).add(str(req))
    return tuple(sorted(third)), tuple(sorted(local)), tuple(sorted(set(meta.provides_extra)))


def bump_pin(
    lock_path: Path, name: str, version: str, index: IndexSettings, oci_registry: str | None,
    helpers: set[str], kfp_version: str,
) -> PackagePin:
    """Point the lock at a version that is already released: the wheel's sha256 from the index
    (and verified by download), its closure resolved again from the index (keeping the pins of
    the helpers it depends on), the image digest from the OCI registry (labels verified)."""
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
    lock = load_lock(lock_path)
    old = lock.get(name)
    third, local, extras = _wheel_requirements(index, wheel.url, helpers)
    if old is not None and (old.version, old.sha256) == (str(wanted), wheel.sha256) and old.closure:
        closure = old.closure  # the lock already has this release's closure: a bump never moves it
    else:
        also, locked = dependency_roots(lock, [Requirement(raw).name for raw in local])
        closure = resolve_closure(index, name, str(wanted), extras, kfp_version, also=also, locked=locked)
    pin = pin_released_wheel(
        old, name=name, version=str(wanted), wheel=wheel.filename, sha256=wheel.sha256, url=wheel.url,
        index_url=index.simple_url, kfp_version=kfp_version,
        sdist=sdists[0].filename if sdists else "", sdist_sha256=sdists[0].sha256 if sdists else "",
        requires=sorted({*third, f"kfp=={kfp_version}"}), depends=local, closure=closure,
    )
    if oci_registry:
        repo = f"{oci_registry}/{name}"
        remote = remote_image(repo, str(wanted))
        if remote is not None:
            bad = label_mismatch(expected_labels(pin), remote.labels)
            if bad and all(b.startswith(CLOSURE_LABEL) for b in bad):
                raise IntegrityError(
                    f"{repo}:{wanted} was built with another closure than the index resolves for it today "
                    "(newer dependencies were mirrored since); copy its pin from a lock that has it "
                    "(the releasing repository's pins.json), or release a new version"
                )
            if bad:
                raise IntegrityError(
                    f"{repo}:{wanted} does not hold this wheel ({bad[0]}); rebuild it with a new version"
                )
            pin = replace(pin, commit=pin.commit or remote.labels.get("org.opencontainers.image.revision", ""))
            pin = pin.with_image(ImagePin(
                ref=f"{repo}@{remote.digest}", tag=f"{repo}:{wanted}",
                base_image=remote.labels.get("org.opencontainers.image.base.name", ""), registry=oci_registry,
            ))
    uv = lock_uv(lock, index)
    modify_lock(lock_path, lambda lock: lock.with_pin(pin).with_tool(uv))  # both, or neither
    return pin


def lock_uv(lock: Lock, index: IndexSettings) -> LockedFile:
    """The lock's uv (what package-mode steps install with): kept when it is the version this
    helperhub uses, else the file the index serves for it."""
    uv = lock.tools.get("uv")
    if uv is None or uv.version != defaults.UV_VERSION:
        uv = served_tool(index, "uv", defaults.UV_VERSION)
    return uv


@dataclass(frozen=True)
class PinProblem:
    name: str
    message: str
    warning: bool = False  # still installs as pinned (a yanked version), but needs a look


Listings = dict[tuple[str, str], dict[str, IndexFile]]


def check_pins(lock: Lock, *, download: bool = False) -> list[PinProblem]:
    """Every pin must be served with its recorded sha256, every file of its locked closure listed
    by its index with the locked sha256 (``download``: and downloaded with it), and its image
    must exist by digest. An unreachable registry is a problem, never a pass."""
    if not lock.packages:
        return [PinProblem("-", "pins.json has no pins; run `make release`")]
    problems: list[PinProblem] = []
    listings: Listings = {}  # one listing per index and project
    fetched: dict[str, str] = {}  # one download per URL
    for name, pin in sorted(lock.packages.items()):
        try:
            problems.extend(_wheel_problems(pin, listings))
            problems.extend(_closure_problems(pin, listings, fetched if download else None))
        except HubError as exc:
            problems.append(PinProblem(name, str(exc)))
        try:
            problems.extend(_image_problems(pin))
        except HubError as exc:
            problems.append(PinProblem(name, str(exc)))
    first = lock.packages[min(lock.packages)]
    for tool in lock.tools.values():  # uv: every package-mode step bootstraps it from the index
        checked = dataclasses.replace(first, name=tool.name).with_closure((tool,))
        try:
            problems.extend(_closure_problems(checked, listings, fetched if download else None))
        except HubError as exc:
            problems.append(PinProblem(tool.name, str(exc)))
    return problems


def closure_file_count(lock: Lock) -> int:
    """How many distinct closure files `check_pins` verifies (helpers share many)."""
    return len({(pin.index_url, f.filename) for pin in lock.packages.values() for f in pin.closure})


def _listed(index: IndexSettings, project: str, listings: Listings) -> dict[str, IndexFile]:
    key = (index.simple_url, canonicalize_name(project))
    if key not in listings:
        listings[key] = project_files(index, project)
    return listings[key]


def _wheel_problems(pin: PackagePin, listings: Listings) -> list[PinProblem]:
    index = IndexSettings(pin.index_url)
    listed = _listed(index, pin.name, listings).get(pin.wheel)
    if listed is None:
        return [PinProblem(pin.name, f"{pin.wheel} is not in the index {pin.index_url}")]
    if listed.sha256 != pin.sha256:
        return [PinProblem(pin.name, f"index lists sha256 {listed.sha256}, lock has {pin.sha256}")]
    if (served := fetch_sha256(index, listed.url)) != pin.sha256:
        return [PinProblem(pin.name, f"{pin.wheel} downloads with sha256 {served}, lock has {pin.sha256}")]
    if listed.yanked is not None:
        why = f" ({listed.yanked})" if listed.yanked else ""
        return [PinProblem(pin.name, f"{pin.version} is yanked{why}; pins still install it, but pin a fixed "
                                     f"release: `helperhub pins bump {pin.name} <version>`", warning=True)]
    return []


def _closure_problems(pin: PackagePin, listings: Listings, fetched: dict[str, str] | None) -> list[PinProblem]:
    """Each closure file listed with its locked sha256; ``fetched`` (a download cache): the bytes
    too, from the URL steps install it by (beside the helper wheel)."""
    if not pin.closure:
        return [PinProblem(pin.name, f"no locked closure; re-run `make release PACKAGE={pin.name}` "
                                     f"or `helperhub pins bump {pin.name} {pin.version}`")]
    index = IndexSettings(pin.index_url)
    problems = []
    for f in pin.closure:
        listed = _listed(index, f.name, listings).get(f.filename)
        if listed is None:
            problems.append(PinProblem(pin.name, f"closure file {f.filename} is not in the index {pin.index_url}"))
        elif listed.sha256 != f.sha256:
            problems.append(PinProblem(
                pin.name, f"closure file {f.filename}: index lists sha256 {listed.sha256 or '-'}, lock has {f.sha256}"
            ))
        elif fetched is not None:
            url = f.url(pin.url)
            if url not in fetched:
                fetched[url] = fetch_sha256(index, url)
            if fetched[url] != f.sha256:
                problems.append(PinProblem(
                    pin.name, f"closure file {f.filename} downloads with sha256 {fetched[url]}, lock has {f.sha256}"
                ))
    return problems


def _image_problems(pin: PackagePin) -> list[PinProblem]:
    if pin.image is None:
        return []
    repo, digest = pin.image.ref.split("@", 1)
    split_repository(repo)
    remote = remote_image(repo, digest)
    if remote is None:
        return [PinProblem(pin.name, f"image {pin.image.ref} is not in the OCI registry")]
    if bad := label_mismatch(target_labels(pin), remote.labels):  # a declared target's image: its index's labels
        return [PinProblem(pin.name, f"image {pin.image.ref} holds something else: {bad[0]}")]
    return []


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


def yanked_in_use(usages: Sequence[Usage], lock: Lock) -> tuple[dict[tuple[str, str], str], list[str]]:
    """The (helper, version) pairs in use that their index has yanked, with the reason, asked of
    the index each helper's pin names; and one line per index that could not be asked."""
    yanked: dict[tuple[str, str], str] = {}
    unreachable: list[str] = []
    for helper in sorted({u.helper for u in usages}):
        pin = lock.packages.get(canonicalize_name(helper))
        if pin is None:
            continue
        try:
            marks = yanked_versions(project_files(IndexSettings(pin.index_url), helper))
        except HubError as exc:
            unreachable.append(f"{helper}: {exc}")
            continue
        for u in usages:
            if u.helper == helper and (reason := marks.get(parse_version(u.version))) is not None:
                yanked[(u.helper, u.version)] = reason
    return yanked, unreachable
