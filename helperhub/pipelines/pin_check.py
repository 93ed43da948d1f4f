"""`pins check`: every pin against the registries, failing closed. Per helper its wheel; per target
and platform every file of its closure, listed by the index with the locked sha256 (and downloaded
with it, on request); per target its image by digest and, for a multi-platform image, every
platform's manifest the lock names, each labelled with this wheel and that platform's closure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from packaging.utils import canonicalize_name

from helperhub.core import defaults
from helperhub.core.errors import HubError
from helperhub.core.targets import default_facts
from helperhub.images.context import CLOSURE_LABEL, expected_labels, label_mismatch
from helperhub.images.oci import platform_manifests, remote_image, split_repository
from helperhub.images.target_context import TARGET_LABEL, target_closure_sha256
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import Lock, PackagePin
from helperhub.lock.target_pins import TargetPin
from helperhub.registry.client import IndexFile, IndexSettings, fetch_sha256, project_files


@dataclass(frozen=True)
class PinProblem:
    name: str
    message: str
    warning: bool = False  # still installs as pinned (a yanked version), but needs a look


Listings = dict[tuple[str, str], dict[str, IndexFile]]


def check_pins(lock: Lock, *, download: bool = False) -> list[PinProblem]:
    """Every pin must be served with its recorded sha256, every file of each of its locked closures
    (per target and platform) listed by its index with the locked sha256 (``download``: and
    downloaded with it), and each target's image must exist by digest, every platform of it too.
    An unreachable registry is a problem, never a pass."""
    if not lock.packages:
        return [PinProblem("-", "pins.json has no pins; run `make release`")]
    problems: list[PinProblem] = []
    listings: Listings = {}  # one listing per index and project
    fetched: dict[str, str] | None = {} if download else None  # one download per URL
    for name, pin in sorted(lock.packages.items()):
        try:
            problems.extend(_wheel_problems(pin, listings))
            problems.extend(_closure_problems(pin, listings, fetched))
        except HubError as exc:
            problems.append(PinProblem(name, str(exc)))
        for target_name, target in pin.targets.items():
            try:
                problems.extend(_image_problems(pin, target_name, target))
            except HubError as exc:
                problems.append(PinProblem(name, str(exc)))
    first = lock.packages[min(lock.packages)]
    for files in lock.platform_tools.values():  # uv: every package-mode step bootstraps it from the index
        for platform, tool in files.items():
            where = "" if platform == defaults.TARGET_PLATFORM else f" [{platform}]"
            try:
                problems.extend(_file_problems(tool.name, (tool,), first, where, listings, fetched))
            except HubError as exc:
                problems.append(PinProblem(tool.name, str(exc)))
    return problems


def closure_file_count(lock: Lock) -> int:
    """How many distinct closure files `check_pins` verifies (helpers, targets and platforms share many)."""
    return len({(pin.index_url, f.filename) for pin in lock.packages.values() for t in pin.targets.values()
                for files in t.closure.values() for f in files})


def _where(target: str, platform: str) -> str:
    """Where a closure file is locked, in messages; nothing for the one target before targets."""
    return "" if (target, platform) == (defaults.TARGET_NAME, defaults.TARGET_PLATFORM) else f" [{target} {platform}]"


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
    """Each target's closure on each of its platforms; a target without one cannot say what to install."""
    problems = []
    for name, target in (pin.targets or {defaults.TARGET_NAME: TargetPin.of(default_facts())}).items():
        if not target.closure:
            of = "" if name == defaults.TARGET_NAME else f" for target {name}"
            problems.append(PinProblem(pin.name, f"no locked closure{of}; re-run `make release PACKAGE={pin.name}` "
                                                 f"or `helperhub pins bump {pin.name} {pin.version}`"))
        for platform, files in target.closure.items():
            problems.extend(_file_problems(pin.name, files, pin, _where(name, platform), listings, fetched))
    return problems


def _file_problems(owner: str, files: Iterable[LockedFile], pin: PackagePin, where: str, listings: Listings,
                   fetched: dict[str, str] | None) -> list[PinProblem]:
    """Each file listed with its locked sha256 on the pin's index; ``fetched`` (a download cache):
    the bytes too, from the URL steps install it by (beside the helper wheel)."""
    index = IndexSettings(pin.index_url)
    problems = []
    for f in files:
        listed = _listed(index, f.name, listings).get(f.filename)
        if listed is None:
            problems.append(PinProblem(owner, f"closure file {f.filename}{where} is not in the index {pin.index_url}"))
        elif listed.sha256 != f.sha256:
            problems.append(PinProblem(
                owner,
                f"closure file {f.filename}{where}: index lists sha256 {listed.sha256 or '-'}, lock has {f.sha256}",
            ))
        elif fetched is not None:
            url = f.url(pin.url)
            if url not in fetched:
                fetched[url] = fetch_sha256(index, url)
            if fetched[url] != f.sha256:
                problems.append(PinProblem(
                    owner, f"closure file {f.filename}{where} downloads with sha256 {fetched[url]}, lock has {f.sha256}"
                ))
    return problems


def _image_problems(pin: PackagePin, name: str, target: TargetPin) -> list[PinProblem]:
    """The target's image by digest; a multi-platform one must list the lock's manifest of each
    platform, and each platform's image must say it holds this wheel and that platform's closure."""
    image = target.image
    if image is None:
        return []
    repo, digest = image.ref.split("@", 1)
    split_repository(repo)
    of = "" if name == defaults.TARGET_NAME else f" (target {name})"
    manifests = {next(iter(target.platforms), defaults.TARGET_PLATFORM): digest}
    if image.platforms:
        listed = platform_manifests(repo, digest)
        if listed is None:
            return [PinProblem(pin.name, f"image {image.ref}{of} is not in the OCI registry")]
        problems = [PinProblem(pin.name, f"image {image.ref}{of} lists {listed[1].get(p, 'no image')} for {p}, "
                                         f"the lock has {d}")
                    for p, d in image.platforms.items() if listed[1].get(p) != d]
        if problems:
            return problems
        manifests = dict(image.platforms)
    expected = expected_labels(pin)
    if name != defaults.TARGET_NAME:
        expected[TARGET_LABEL] = name
    problems = []
    for platform, manifest in manifests.items():
        shown = image.ref if manifest == digest else f"{image.ref} ({platform}: {manifest})"
        remote = remote_image(repo, manifest)
        if remote is None:
            problems.append(PinProblem(pin.name, f"image {shown}{of} is not in the OCI registry"))
            continue
        wanted = {**expected, CLOSURE_LABEL: target_closure_sha256(target.closure)}
        if bad := label_mismatch(wanted, remote.labels):
            problems.append(PinProblem(pin.name, f"image {shown}{of} holds something else: {bad[0]}"))
    return problems
