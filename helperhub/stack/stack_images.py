"""The images of docker-compose.yml, built on this engine: no public image registry is needed.

The front (Debian's nginx) and the OCI registry (Debian's docker-registry) are built on the base
image with apt from Debian's archive; the registry image from the checkout, offline, as
``make registry-image`` builds it. Each is tagged locally by a key of everything its build reads
(Dockerfile, base image id, sources, wheels), so an unchanged stack is never rebuilt, and handed
to Compose by its image id (``sha256:...``): the digest of its content, which Compose v1 runs as
it is, without asking any registry.
"""

from __future__ import annotations

import contextlib
import hashlib
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helperhub.core import defaults
from helperhub.core.errors import EngineError, GitError
from helperhub.core.fs import atomic_write_text, sha256_file
from helperhub.core.git import head_commit
from helperhub.stack.oci_registry import registry_config

Log = Callable[[str], None]
HERE = Path(__file__).parent
FRONT_DOCKERFILE = HERE / "front.Dockerfile"
OCI_DOCKERFILE = HERE / "oci-registry.Dockerfile"
OCI_STORAGE = Path("/var/lib/registry")  # where the public registry image keeps its storage too
REPOSITORY = "helperhub-stack"  # local tags only (<repository>/<name>:<key>), never pushed


@dataclass(frozen=True)
class StackImages:
    """What each service of docker-compose.yml runs: an image id, or a reference given by the user."""

    registry: str
    front: str
    oci: str


def content_key(parts: Iterable[bytes]) -> str:
    """A short sha256 of the parts, each length-prefixed (so no two part lists collide)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()[:20]


def local_tag(name: str, key: str) -> str:
    return f"{REPOSITORY}/{name}:{key}"


def oci_config() -> str:
    """The stack registry's config: the project's registry config, on the public image's port and path."""
    return registry_config(":5000", OCI_STORAGE)


def _base_id(client: Any, base_image: str) -> str:
    import docker.errors

    try:
        return str(client.images.get(base_image).id)
    except docker.errors.ImageNotFound:
        raise EngineError(
            f"the base image {base_image} is not on this engine; run `make engine` or set BASE_IMAGE"
        ) from None


def _existing(client: Any, tag: str) -> str | None:
    import docker.errors

    try:
        return str(client.images.get(tag).id)
    except docker.errors.ImageNotFound:
        return None


def _build(client: Any, context: Path, tag: str, buildargs: dict[str, str], log: Log) -> str:
    from helperhub.images.engine import check_stream

    stream = client.api.build(path=str(context), tag=tag, network_mode="host", decode=True, rm=True,
                              forcerm=True, pull=False, buildargs=buildargs)
    entries = check_stream(stream, f"building {tag}", log)
    ids = [e["aux"]["ID"] for e in entries if isinstance(e.get("aux"), dict) and "ID" in e["aux"]]
    if not ids:
        raise EngineError(f"building {tag} ended without an image id")
    drop_older(client, tag)
    return str(ids[-1])


def drop_older(client: Any, tag: str) -> None:
    """Untag the earlier builds of ``tag``'s image (each changed checkout makes one), so they do not
    pile up; the engine refuses for an image a container still uses, which then stays."""
    import docker.errors

    repository = tag.rpartition(":")[0]
    for image in client.images.list(name=repository):
        for old in image.tags:
            if old != tag and old.rpartition(":")[0] == repository:
                with contextlib.suppress(docker.errors.APIError):  # a container (of any stack) uses it
                    client.images.remove(old)


def debian_image(
    client: Any, name: str, dockerfile: Path, base_image: str, *, extra: dict[str, str] | None = None,
    security_mirror: str = defaults.DEBIAN_SECURITY_MIRROR, log: Log = lambda _line: None,
) -> str:
    """The id of a Debian-package image (front or OCI registry): the tagged one when its key
    matches, else built from ``dockerfile`` plus ``extra`` files in the context."""
    files = {"Dockerfile": dockerfile.read_text(), **(extra or {})}
    args = {"BASE_IMAGE": base_image, "SECURITY_MIRROR": security_mirror}
    key = content_key([_base_id(client, base_image).encode(),
                       *(f"{k}={v}".encode() for k, v in sorted(args.items())),
                       *(f"{k}\n{v}".encode() for k, v in sorted(files.items()))])
    tag = local_tag(name, key)
    found = _existing(client, tag)
    if found:
        return found
    log(f"building {tag} (apt from Debian's archive)")
    with tempfile.TemporaryDirectory(prefix=f"{name}-context-") as ctx:
        for file, text in files.items():
            atomic_write_text(Path(ctx, file), text)
        return _build(client, Path(ctx), tag, args, log)


def registry_stack_image(
    client: Any, root: Path, base_image: str, cache: Path, log: Log = lambda _line: None,
) -> str:
    """The id of the registry image of the checkout at ``root`` (its sources as they are now)."""
    from helperhub.images.engine import repo_digest
    from helperhub.stack.registry_image import (
        DOCKERFILE,
        PYPISERVER_VERSION,
        build_context,
        build_registry_image,
        fetch_wheels,
        project_sources,
    )

    try:
        revision = head_commit(root)
    except GitError:
        revision = "unknown"
    base = repo_digest(client, base_image)
    wheels = sorted(fetch_wheels(cache))
    key = content_key([
        _base_id(client, base_image).encode(), base.encode(), revision.encode(), PYPISERVER_VERSION.encode(),
        DOCKERFILE.read_bytes(),
        *(f"{w.name} {sha256_file(w)}".encode() for w in wheels),
        *(str(p).encode() + b"\n" + (root / p).read_bytes() for p in project_sources(root)),
    ])
    tag = local_tag("registry", key)
    found = _existing(client, tag)
    if found:
        return found
    log(f"building {tag} from {root}")
    with tempfile.TemporaryDirectory(prefix="registry-context-") as ctx:
        context = build_context(Path(ctx, "context"), root, cache=cache)
        return build_registry_image(client, base, tag, context, revision=revision, log=log)


def stack_images(
    client: Any, root: Path, base_image: str, cache: Path, *, given: StackImages,
    security_mirror: str = defaults.DEBIAN_SECURITY_MIRROR, log: Log = lambda _line: None,
) -> StackImages:
    """The images the stack runs: each one ``given`` names (non-empty) as it is, the others
    built when missing."""
    return StackImages(
        registry=given.registry or registry_stack_image(client, root, base_image, cache, log),
        front=given.front or debian_image(client, "front", FRONT_DOCKERFILE, base_image,
                                          security_mirror=security_mirror, log=log),
        oci=given.oci or debian_image(client, "oci-registry", OCI_DOCKERFILE, base_image,
                                      extra={"config.yml": oci_config()}, security_mirror=security_mirror, log=log),
    )
