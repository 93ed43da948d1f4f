"""The SBOM of a release for one target (CycloneDX 1.6 JSON, by cyclonedx-python-lib) from what
is really there: every file of the target's locked closure (name, version, sha256, pkg:pypi purl,
the license its own metadata states) and, for an image, the Debian packages of its base, read
from the base's dpkg status. Pure: the same inputs give the same text, byte for byte (its time is
the release's recorded time, its serial number derived from its content)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from helperhub.images.facts import dpkg_installed
from helperhub.lock.closure import LockedFile
from helperhub.lock.environments import EnvironmentPin
from helperhub.lock.lockfile import PackagePin

MAX_LICENSE = 120  # a License field holding a whole license text is named by its first line
PLATFORM_PROPERTY = "helperhub:platforms"
IMAGE_PROPERTY = "helperhub:image"
TARGET_PROPERTY = "helperhub:target"
MODULE_PROPERTY = "helperhub:module"


@dataclass(frozen=True, order=True)
class DebianPackage:
    """One installed package of a base image's dpkg status."""

    name: str
    version: str
    architecture: str


def dpkg_packages(status: str) -> tuple[DebianPackage, ...]:
    """The installed packages of a dpkg status file (``/var/lib/dpkg/status``), sorted."""
    return tuple(sorted({DebianPackage(f["Package"], f["Version"], f.get("Architecture", "all"))
                         for f in dpkg_installed(status) if f.get("Version")}))


def license_text(raw: str) -> str:
    """A license as the SBOM names it: an expression or name as stated, a whole text by its first line."""
    first = raw.strip().splitlines()[0].strip() if raw.strip() else ""
    return first if len(first) <= MAX_LICENSE else first[:MAX_LICENSE - 3] + "..."


def target_files(pin: PackagePin, target: str) -> dict[str, tuple[LockedFile, tuple[str, ...]]]:
    """filename -> (file, the platforms that install it) of a target's closure."""
    return closure_files(pin.require_target(target).closure)


def closure_files(closure: Mapping[str, Sequence[LockedFile]]) -> dict[str, tuple[LockedFile, tuple[str, ...]]]:
    """filename -> (file, the platforms that install it) of a closure per platform."""
    files: dict[str, tuple[LockedFile, tuple[str, ...]]] = {}
    for platform, locked in closure.items():
        for f in locked:
            seen = files.get(f.filename)
            files[f.filename] = (f, (*seen[1], platform) if seen else (platform,))
    return dict(sorted(files.items()))


def build_sbom(pin: PackagePin, target: str, licenses: Mapping[str, str],
               debian: Mapping[str, Sequence[DebianPackage]]) -> str:
    """The CycloneDX 1.6 JSON of ``pin`` for ``target``: the helper as the described component, each
    closure file a Python library (``licenses``: filename -> its stated license), each package of
    ``debian`` (platform -> the base's packages there) an operating-system library."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentType
    from packageurl import PackageURL

    files = target_files(pin, target)
    image = pin.require_target(target).image
    helper = Component(
        name=pin.name, version=pin.version, type=ComponentType.LIBRARY, bom_ref=pin.wheel,
        purl=PackageURL("pypi", name=pin.name, version=pin.version, qualifiers={"file_name": pin.wheel}),
        hashes=[HashType(alg=HashAlgorithm.SHA_256, content=pin.sha256)],
        properties=[Property(name=TARGET_PROPERTY, value=target)]
        + ([Property(name=IMAGE_PROPERTY, value=image.ref)] if image else []),
    )
    packages = sorted({p for found in debian.values() for p in found})
    content = {"pin": [pin.name, pin.version, pin.sha256, target, image.ref if image else ""],
               "files": [f.to_json() for f, _ in files.values()],
               "debian": [[p.name, p.version, p.architecture] for p in packages]}
    return _bom(helper, files, licenses, packages, content, pin.released_at)


def environment_sbom(env: EnvironmentPin, target: str, image: str, released_at: str) -> str:
    """The CycloneDX 1.6 JSON of an environment's image for ``target``: the environment as the
    described component, each locked file a Python library, each of the team's modules one by the
    hash of its source (the base's Debian packages are in its helper image's SBOM)."""
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.component import Component, ComponentType

    _, locked = env.require_target(target)
    described = Component(name=env.name, version=target, type=ComponentType.APPLICATION,
                          bom_ref=f"environment:{env.name}", properties=[Property(name=TARGET_PROPERTY, value=target),
                                      Property(name=IMAGE_PROPERTY, value=image)])
    modules = [Component(name=m.name, type=ComponentType.LIBRARY, bom_ref=f"module:{m.path}",
                         hashes=[HashType(alg=HashAlgorithm.SHA_256, content=m.source_sha256)],
                         properties=[Property(name=MODULE_PROPERTY, value=m.path)]) for m in env.modules]
    files = closure_files(locked.closure)
    content = {"environment": [env.name, env.inputs, target, image], "modules": [m.to_json() for m in env.modules],
               "files": [f.to_json() for f, _ in files.values()]}
    return _bom(described, files, {}, [], content, released_at, modules)


def _bom(described: Any, files: Mapping[str, tuple[LockedFile, tuple[str, ...]]], licenses: Mapping[str, str],
         packages: Sequence[DebianPackage], content: Mapping[str, Any], released_at: str,
         more: Sequence[Any] = ()) -> str:
    """The document: ``described``, each file a Python library, each Debian package an OS library;
    its serial number from ``content``, its time ``released_at`` (never now)."""
    from cyclonedx.contrib.license.factories import LicenseFactory
    from cyclonedx.model import HashAlgorithm, HashType, Property
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    factory = LicenseFactory()
    components = []
    for filename, (f, platforms) in files.items():
        stated = license_text(licenses.get(filename, ""))
        components.append(Component(
            name=f.name, version=f.version, type=ComponentType.LIBRARY, bom_ref=filename,
            purl=PackageURL("pypi", name=f.name, version=f.version, qualifiers={"file_name": filename}),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256)],
            licenses=[factory.make_from_string(stated)] if stated else [],
            properties=[Property(name=PLATFORM_PROPERTY, value=" ".join(platforms))],
        ))
    for p in packages:
        components.append(Component(
            name=p.name, version=p.version, type=ComponentType.LIBRARY,
            bom_ref=f"deb:{p.name}@{p.version}:{p.architecture}",
            purl=PackageURL("deb", namespace="debian", name=p.name, version=p.version,
                            qualifiers={"arch": p.architecture}),
        ))
    components += list(more)
    text = json.dumps(content, sort_keys=True)
    bom = Bom(
        serial_number=uuid.UUID(bytes=hashlib.sha256(text.encode()).digest()[:16], version=5),
        metadata=BomMetaData(component=described,
                             timestamp=datetime.fromisoformat(released_at.replace("Z", "+00:00"))),
        components=components,
    )
    bom.register_dependency(described, [c for c in components if c.purl and c.purl.type == "pypi"] + list(more))
    output: str = JsonV1Dot6(bom).output_as_string(indent=2)
    return output + "\n"


def python_components(document: bytes) -> dict[str, str]:
    """filename -> sha256 of the Python components an SBOM lists (bom-ref is the file name)."""
    data: dict[str, Any] = json.loads(document)
    found = {}
    for c in data.get("components", []):
        if str(c.get("purl", "")).startswith("pkg:pypi/"):
            digest = next((h["content"] for h in c.get("hashes", []) if h.get("alg") == "SHA-256"), "")
            found[str(c.get("bom-ref", ""))] = digest
    return found
