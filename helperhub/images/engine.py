"""Build and push with the docker SDK, raising on every error entry of the streams
(as KFP's ``cli/component.py``)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from helperhub.core.errors import EngineError
from helperhub.images.context import DOCKERFILE, ImageSpec

Log = Callable[[str], None]


def docker_client(timeout: int = 600) -> Any:
    """A client for the engine at DOCKER_HOST (or the default socket); EngineError if none."""
    import docker

    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # the SDK raises DockerException, requests' errors or OSError
        raise EngineError(
            f"no Docker engine answers ({type(exc).__name__}); start one with `make engine` "
            "or set DOCKER_HOST"
        ) from None
    return client


def check_stream(entries: Iterable[dict[str, Any]], what: str, log: Log) -> list[dict[str, Any]]:
    """Consume a build or push stream; the first error entry becomes an EngineError that names
    the failing step and the last line the step printed (pip's own error, say)."""
    seen: list[dict[str, Any]] = []
    last_output = ""
    for entry in entries:
        seen.append(entry)
        if "error" in entry or "errorDetail" in entry:
            detail = str(entry.get("errorDetail", {}).get("message") or entry.get("error", "")).strip()
            if len(detail) > 300:
                detail = detail[:140] + " ... " + detail[-140:]
            cause = f" (last output: {last_output})" if last_output else ""
            raise EngineError(f"{what} failed: {detail}{cause}")
        text = entry.get("stream") or entry.get("status")
        if text and text.strip():
            log(text.rstrip())
            line = text.strip().splitlines()[-1]
            if not line.startswith(("Step ", "---> ", " ---> ")):
                last_output = line
    return seen


def build(client: Any, spec: ImageSpec, log: Log, *, nocache: bool = False,
          labels: Mapping[str, str] | None = None) -> str:
    """Build the image of ``spec``; returns the local image id. ``labels`` are set last (over
    the Dockerfile's own)."""
    with tempfile.TemporaryDirectory() as ctx:
        Path(ctx, "Dockerfile").write_bytes(DOCKERFILE.read_bytes())
        stream = client.api.build(
            path=ctx, tag=spec.ref, buildargs=dict(spec.buildargs), network_mode="host",
            rm=True, forcerm=True, pull=False, decode=True, nocache=nocache, labels=dict(labels) if labels else None,
        )
        entries = check_stream(stream, f"building {spec.ref}", log)
    ids = [e["aux"]["ID"] for e in entries if isinstance(e.get("aux"), dict) and "ID" in e["aux"]]
    if not ids:
        raise EngineError(f"building {spec.ref} ended without an image id")
    return str(ids[-1])


def push(client: Any, spec: ImageSpec, log: Log) -> str:
    """Push the tag; returns the manifest digest the registry stored."""
    stream = client.api.push(spec.repository, tag=spec.tag, stream=True, decode=True)
    entries = check_stream(stream, f"pushing {spec.ref}", log)
    digests = [e["aux"]["Digest"] for e in entries if isinstance(e.get("aux"), dict) and "Digest" in e["aux"]]
    if not digests:
        raise EngineError(f"pushing {spec.ref} ended without a digest")
    return str(digests[-1])


def repo_digest(client: Any, image: str) -> str:
    """``repo@sha256:...`` of a local image that came from (or went to) a registry; else the
    reference as given."""
    import docker.errors

    try:
        attrs = client.images.get(image).attrs
    except docker.errors.ImageNotFound:
        raise EngineError(f"image {image} is not on this engine; pull or build it first") from None
    repo = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    for d in attrs.get("RepoDigests") or []:
        if d.startswith(repo + "@"):
            return str(d)
    return image
