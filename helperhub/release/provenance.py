"""What a release says it did, as an in-toto Statement (v1) with the SLSA Provenance v1
predicate: one for a helper's wheel and sdist, one per target for its image. Pure functions of
the lock's pin, so the same release gives the same statement byte for byte (its time is the
release's recorded time, never now), and the pin commands can say exactly what they expect.

The statement names its subjects by digest, the source by commit and content hash, the build
commands, and the locked closure as the resolved dependencies; an image's also names the SBOM
of its target by digest (a byproduct), so the signature covers the SBOM too."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helperhub.core.errors import IntegrityError
from helperhub.lock.closure import LockedFile
from helperhub.lock.environments import EnvironmentPin
from helperhub.lock.lockfile import PackagePin
from helperhub.lock.target_pins import ImagePin, TargetPin

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
SLSA_TYPE = "https://slsa.dev/provenance/v1"
WHEEL_BUILD = "urn:helperhub:build:wheel:v1"
IMAGE_BUILD = "urn:helperhub:build:image:v1"
BUILDER = "urn:helperhub:release"
SBOM_TYPE = "application/vnd.cyclonedx+json"
WHEEL_COMMANDS = (
    "pytest -q -p no:cacheprovider tests",
    "python -m build --no-isolation --sdist --wheel  # SOURCE_DATE_EPOCH: the last commit of the package",
    "twine upload (each missing file of the wheel, the sdist and the closure)",
)
IMAGE_COMMANDS = (
    "docker build (helperhub/images/helper.Dockerfile: uv pip install --no-deps each locked file by sha256)",
    "docker push; an image index for several platforms",
)


def _file(f: LockedFile, beside: str) -> dict[str, Any]:
    return {"name": f.filename, "uri": f.url(beside), "digest": {"sha256": f.sha256}}


def _source(pin: PackagePin) -> dict[str, Any]:
    """The source as a resource: its commit, and the hash of the package's tracked files."""
    digest = {"gitCommit": pin.commit} if pin.commit else {}
    if pin.source_sha256:
        digest["sha256"] = pin.source_sha256
    return {"name": f"source of {pin.name}", "uri": f"git+commit:{pin.commit or '-'}#helpers/{pin.name}",
            "digest": digest}


def _closure(pin: PackagePin, targets: Mapping[str, TargetPin]) -> list[dict[str, Any]]:
    """Every locked file of ``targets`` once (platforms share most), in file-name order."""
    files = {f.filename: f for t in targets.values() for fs in t.closure.values() for f in fs}
    return [_file(files[n], pin.url) for n in sorted(files)]


def _run(pin: PackagePin) -> dict[str, Any]:
    return {"builder": {"id": BUILDER},
            "metadata": {"invocationId": f"{pin.name}-{pin.version}", "startedOn": pin.released_at,
                         "finishedOn": pin.released_at}}


def wheel_statement(pin: PackagePin) -> dict[str, Any]:
    """The provenance of a helper's wheel and sdist: built from its source, tested, with the
    closure of every target locked beside it."""
    subjects = [{"name": pin.wheel, "digest": {"sha256": pin.sha256}}]
    if pin.sdist:
        subjects.append({"name": pin.sdist, "digest": {"sha256": pin.sdist_sha256}})
    return _statement(subjects, WHEEL_BUILD,
                      {"package": pin.name, "version": pin.version, "commands": list(WHEEL_COMMANDS),
                       "requires": list(pin.requires), "index": pin.index_url},
                      {"kfp": pin.kfp_version, "targets": list(pin.targets)},
                      [_source(pin), *_closure(pin, pin.targets)], _run(pin))


def _statement(subjects: list[dict[str, Any]], build_type: str, external: dict[str, Any],
               internal: dict[str, Any], resolved: list[dict[str, Any]], run: dict[str, Any]) -> dict[str, Any]:
    """An in-toto Statement v1 whose predicate is SLSA Provenance v1."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": SLSA_TYPE,
        "predicate": {
            "buildDefinition": {"buildType": build_type, "externalParameters": external,
                                "internalParameters": internal, "resolvedDependencies": resolved},
            "runDetails": run,
        },
    }


def image_subjects(image: ImagePin) -> list[dict[str, Any]]:
    """An image as the subjects of its statement: its digest (an index's, for several platforms)
    and each platform's manifest."""
    repository, _, digest = image.ref.partition("@")
    subjects = [{"name": repository, "digest": {"sha256": digest.removeprefix("sha256:")},
                 "annotations": {"tag": image.tag}}]
    for platform, manifest in image.platforms.items():
        subjects.append({"name": f"{repository} {platform}", "digest": {"sha256": manifest.removeprefix("sha256:")}})
    return subjects


def image_statement(pin: PackagePin, target: str, sbom_sha256: str) -> dict[str, Any]:
    """The provenance of ``target``'s image: the image (and each platform's manifest) by digest,
    built from this wheel and that target's closure on its base; the target's SBOM a byproduct."""
    locked = pin.require_target(target)
    image = locked.image
    if image is None:
        raise IntegrityError(f"{pin.name} {pin.version} has no image for target {target}; build it first")
    subjects = image_subjects(image)
    base = {"name": "base image", "uri": image.base_image or locked.base_image}
    return _statement(subjects, IMAGE_BUILD,
                      {"package": pin.name, "version": pin.version, "target": target,
                       "commands": list(IMAGE_COMMANDS)},
                      {"python": locked.python, "platforms": list(locked.platforms)},
                      [_source(pin), {"name": pin.wheel, "uri": pin.url, "digest": {"sha256": pin.sha256}},
                       base, *_closure(pin, {target: locked})],
                      {**_run(pin), "byproducts": [
                          {"name": sbom_name(target), "mediaType": SBOM_TYPE, "digest": {"sha256": sbom_sha256}},
                      ]})


ENVIRONMENT_BUILD = "urn:helperhub:build:environment:v1"
ENVIRONMENT_COMMANDS = (
    "uv pip install --no-deps --require-hashes (each locked file the helper image lacks, per platform, on the host)",
    "the team's modules copied from the working tree, their source hash checked against the lock",
    "both appended to the helper image as layers through the registry API; an image index for several platforms",
)


def environment_statement(env: EnvironmentPin, target: str, sbom_sha256: str) -> dict[str, Any]:
    """The provenance of an environment's image for ``target``: the image (and each platform's
    manifest) by digest, built on its helper image from the locked files and the team's modules;
    the target's SBOM a byproduct. Built by the team, not a release: no time, no builder's clock."""
    _, locked = env.require_target(target)
    image = locked.image
    if image is None:
        raise IntegrityError(f"environment {env.name} has no image for target {target}; build it first")
    subjects = image_subjects(image)
    files = {f.filename: f for fs in locked.closure.values() for f in fs}
    beside = env.packages_url()
    resolved: list[dict[str, Any]] = [{"name": "base image", "uri": image.base_image or locked.base_image}]
    resolved += [{"name": m.name, "uri": f"module:{m.path}", "digest": {"sha256": m.source_sha256}}
                 for m in env.modules]
    resolved += [_file(files[n], beside) for n in sorted(files)]
    return _statement(subjects, ENVIRONMENT_BUILD,
                      {"environment": env.name, "target": target, "helpers": [h.to_json() for h in env.helpers],
                       "packages": list(env.packages), "commands": list(ENVIRONMENT_COMMANDS)},
                      {"python": locked.python, "platforms": list(locked.platforms), "inputs": env.inputs},
                      resolved,
                      {"builder": {"id": BUILDER}, "metadata": {"invocationId": f"{env.name}-{image.tag}"},
                       "byproducts": [{"name": sbom_name(target), "mediaType": SBOM_TYPE,
                                       "digest": {"sha256": sbom_sha256}}]})


def sbom_name(target: str) -> str:
    """The SBOM of a target as the index serves it: ``/helpers/<name>/<version>/<target>.cdx.json``."""
    return f"{target}.cdx.json"


def statement_bytes(statement: Mapping[str, Any]) -> bytes:
    """The payload that is signed: canonical JSON (sorted keys, no spaces)."""
    return json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Statement:
    """The parts of a signed statement the pin commands check."""

    subjects: dict[str, str]  # name -> sha256 hex
    build_type: str
    parameters: dict[str, Any]
    dependencies: dict[str, str]  # name -> sha256 hex (the resources that have one)
    byproducts: dict[str, str]  # name -> sha256 hex


def parse_statement(payload: bytes, what: str) -> Statement:
    """A verified payload as a Statement; anything else is an IntegrityError naming ``what``."""
    try:
        data = json.loads(payload)
        if data["_type"] != STATEMENT_TYPE or data["predicateType"] != SLSA_TYPE:
            raise ValueError
        build = data["predicate"]["buildDefinition"]
        run = data["predicate"].get("runDetails", {})
        return Statement(
            subjects={s["name"]: s["digest"]["sha256"] for s in data["subject"]},
            build_type=str(build["buildType"]),
            parameters=dict(build.get("externalParameters", {})),
            dependencies={d["name"]: d["digest"]["sha256"] for d in build.get("resolvedDependencies", [])
                          if "sha256" in d.get("digest", {})},
            byproducts={b["name"]: b["digest"]["sha256"] for b in run.get("byproducts", [])},
        )
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"the provenance of {what} is not an in-toto SLSA v1 statement; re-release it") from None
