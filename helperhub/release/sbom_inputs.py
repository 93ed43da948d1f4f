"""What an image's SBOM is made of besides the lock: the license each closure wheel states (its
PEP 658 metadata file on the index) and the Debian packages of each base (its dpkg status, read
out of the image). Gathered while the image builds (``start_gathering``), since neither depends
on the image: the metadata files in parallel over one HTTP session, a base's packages cached
under the release cache by the base's digest (an image's files never change under its digest)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from helperhub.core.errors import RegistryError
from helperhub.core.fs import atomic_write_text
from helperhub.core.metadata import parse_core_metadata
from helperhub.images.facts import image_files
from helperhub.lock.lockfile import PackagePin
from helperhub.registry.client import TIMEOUT, IndexSettings
from helperhub.release.sbom import DebianPackage, dpkg_packages, target_files

DPKG_STATUS = "/var/lib/dpkg/status"
FETCHERS = 8  # metadata files fetched at once: loopback or a LAN index, small files


@dataclass(frozen=True)
class SbomInputs:
    licenses: dict[str, str]  # closure filename -> the license its metadata states ("" for none)
    debian: dict[str, tuple[DebianPackage, ...]]  # platform -> the base's installed packages


def gather(index: IndexSettings, pin: PackagePin, target: str, bases: Mapping[str, str], client: Any,
           cache: Path | None) -> SbomInputs:
    """The SBOM inputs of ``pin`` for ``target`` (``bases``: platform -> that platform's base)."""
    return SbomInputs(closure_licenses(index, pin, target), base_packages(client, bases, cache))


def start_gathering(index: IndexSettings, pin: PackagePin, target: str, bases: Mapping[str, str], client: Any,
                    cache: Path | None) -> Callable[[], SbomInputs]:
    """Begin ``gather`` in the background (the cyclonedx library imported meanwhile); the function
    returned waits for it."""
    pool = ThreadPoolExecutor(1, thread_name_prefix="sbom-inputs")
    future: Future[SbomInputs] = pool.submit(_warm_then_gather, index, pin, target, bases, client, cache)
    pool.shutdown(wait=False)
    return future.result


def _warm_then_gather(index: IndexSettings, pin: PackagePin, target: str, bases: Mapping[str, str], client: Any,
                      cache: Path | None) -> SbomInputs:
    found = gather(index, pin, target, bases, client, cache)
    import cyclonedx.output.json  # noqa: F401  (build_sbom's import, paid while the image builds)

    return found


def closure_licenses(index: IndexSettings, pin: PackagePin, target: str) -> dict[str, str]:
    """filename -> the license each closure file's own metadata states (PEP 658 files the index
    serves beside the wheels; "" where there is none)."""
    files = target_files(pin, target)
    urls = {name: f"{f.url(pin.url)}.metadata" for name, (f, _) in files.items() if name.endswith(".whl")}
    with requests.Session() as session, ThreadPoolExecutor(FETCHERS, thread_name_prefix="metadata") as pool:
        raw = dict(zip(urls, pool.map(lambda url: _fetch(index, session, url), urls.values()), strict=True))
    return {name: _license(raw.get(name)) for name in files}


def _license(metadata: bytes | None) -> str:
    return parse_core_metadata(metadata).license if metadata else ""


def _fetch(index: IndexSettings, session: requests.Session, url: str) -> bytes | None:
    try:
        resp = session.get(url, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise RegistryError(f"the index at {index.base} does not answer ({exc}); check it runs") from None
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise RegistryError(f"{url} answered {resp.status_code}; check the index")
    return resp.content


def base_packages(client: Any, bases: Mapping[str, str],
                  cache: Path | None = None) -> dict[str, tuple[DebianPackage, ...]]:
    """platform -> the Debian packages of that platform's base, from its dpkg status (read out of
    the image, never run; kept in ``cache``/dpkg by the base's digest); none for a base without one."""
    return {platform: _packages(client, base, cache) for platform, base in sorted(bases.items())}


def _packages(client: Any, base: str, cache: Path | None) -> tuple[DebianPackage, ...]:
    digest = _digest(client, base)
    kept = cache / "dpkg" / f"{digest.replace(':', '-')}.json" if cache is not None and digest else None
    if kept is not None and kept.is_file():
        try:
            return tuple(DebianPackage(*p) for p in json.loads(kept.read_text()))
        except (ValueError, TypeError):
            pass  # a damaged entry is read again from the image
    entry = image_files(client, base, [DPKG_STATUS])[DPKG_STATUS]
    found = dpkg_packages(entry.data.decode("utf-8", "replace")) if entry else ()
    if kept is not None:
        atomic_write_text(kept, json.dumps([[p.name, p.version, p.architecture] for p in found]), durable=False)
    return found


def _digest(client: Any, base: str) -> str | None:
    """The content digest naming ``base``: from a ``@sha256:`` reference, else the engine's image id
    of a base it holds (None when it holds none: read from the image, not kept)."""
    if "@sha256:" in base:
        return base.rpartition("@")[2]
    import docker.errors

    try:
        image_id: str = client.images.get(base).id
    except docker.errors.ImageNotFound:
        return None
    return image_id
