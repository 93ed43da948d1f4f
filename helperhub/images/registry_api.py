"""Write images to a plain-HTTP OCI registry (distribution v2): blobs, manifests, indexes. The one
implementation of registry writes, for the release (``helperhub.images.foreign``, ``targets_stage``)
and for images/base.sh, which runs it before the project's virtualenv exists: the standard
library only, and nothing of helperhub (``PYTHONPATH=<repo> python3 -m helperhub.images.registry_api``).

  registry_api platforms HOST/REPO:TAG        the tag's platforms, e.g. "amd64 arm64" ("" if absent)
  registry_api copy HOST/REPO:FROM TO         point tag TO at FROM's manifest (same digest, no pull)
  registry_api index HOST/REPO:TAG FROM...    point TAG at a multi-platform index of the FROM tags
  registry_api push HOST/REPO:TAG ARCH        push the root filesystem tar on stdin as a one-layer
                                              image for linux/ARCH (python:X.Y-slim's settings)

`push` writes the image config itself: `docker import --platform` of Docker 20.10 records the
engine's own CPU whatever it is told, so an arm64 root would be labelled amd64.

The index is a Docker manifest list (the OCI image index's twin, same JSON shape): the registry
then still answers a client that accepts only single-platform manifests (old engines) with the
linux/amd64 manifest, where an OCI index type makes it answer 404 ("OCI index found, but accept
header does not support OCI indexes").
"""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from typing import IO, Any

IMAGE_TYPES = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
]
INDEX_TYPES = [
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
]
LIST_TYPE = INDEX_TYPES[0]
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# an OCI manifest names its config and layers with the OCI types
OCI_TYPES = {CONFIG_TYPE: "application/vnd.oci.image.config.v1+json",
             LAYER_TYPE: "application/vnd.oci.image.layer.v1.tar+gzip"}
ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1",
]
VARIANTS = {"arm64": "v8"}  # what engines and indexes name the arm64 platform with
CHUNK = 1 << 20


class Failure(Exception):
    """The registry refused or could not be reached; the message says which and why."""


def split(ref: str) -> tuple[str, str, str]:
    """``127.0.0.1:5000/python:3.11-slim`` -> (``127.0.0.1:5000``, ``python``, ``3.11-slim``);
    ``HOST/REPO@sha256:...`` -> (HOST, REPO, ``sha256:...``)."""
    host, _, rest = ref.partition("/")
    repo, sep, tag = rest.partition("@") if "@" in rest else rest.rpartition(":")
    if not host or not sep or not repo or not tag:
        raise Failure(f"{ref!r} is not HOST:PORT/REPOSITORY:TAG or HOST:PORT/REPOSITORY@DIGEST")
    return host, repo, tag


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def request(url: str, method: str = "GET", data: Any = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)
    except OSError as exc:
        raise Failure(f"cannot reach the OCI registry at {url.split('/v2/')[0]} ({exc})") from None


def get_manifest(ref: str) -> tuple[str, bytes] | None:
    """(media type, exact bytes) of the manifest a tag or digest names; None when absent."""
    host, repo, tag = split(ref)
    status, body, headers = request(f"http://{host}/v2/{repo}/manifests/{tag}",
                                    headers={"Accept": ", ".join(INDEX_TYPES + IMAGE_TYPES)})
    if status == 404:
        return None
    if status != 200:
        raise Failure(f"{ref}: the registry answered {status} to a manifest read")
    media_type = headers.get("Content-Type", "").split(";")[0].strip()
    return media_type or str(json.loads(body).get("mediaType", "")), body


def put_manifest(ref: str, media_type: str, body: bytes) -> str:
    """Store a manifest (or index) under the tag ``ref`` names; returns its digest."""
    host, repo, tag = split(ref)
    status, answer, headers = request(f"http://{host}/v2/{repo}/manifests/{tag}", "PUT", body,
                                      {"Content-Type": media_type})
    if status not in (200, 201):
        raise Failure(f"{ref}: the registry refused the manifest ({status}: {answer[:200]!r})")
    return headers.get("Docker-Content-Digest", "") or digest_of(body)


def get_blob(host: str, repo: str, digest: str) -> bytes:
    status, body, _ = request(f"http://{host}/v2/{repo}/blobs/{digest}")
    if status != 200:
        raise Failure(f"{host}/{repo}: blob {digest} answered {status}")
    return body


def image_platform(ref: str, manifest: dict[str, Any]) -> dict[str, str]:
    """os/architecture(/variant) of a single-platform manifest, from its config blob."""
    host, repo, _ = split(ref)
    config = json.loads(get_blob(host, repo, manifest["config"]["digest"]))
    platform = {"architecture": str(config.get("architecture", "")), "os": str(config.get("os", ""))}
    if config.get("variant"):
        platform["variant"] = str(config["variant"])
    return platform


def platforms(ref: str) -> list[str]:
    found = get_manifest(ref)
    if found is None:
        return []
    media_type, body = found
    manifest = json.loads(body)
    if media_type in INDEX_TYPES:
        return [m["platform"]["architecture"] for m in manifest["manifests"] if "platform" in m]
    return [image_platform(ref, manifest)["architecture"]]


def copy(source: str, tag: str) -> str:
    found = get_manifest(source)
    if found is None:
        raise Failure(f"{source} is not in the registry")
    host, repo, _ = split(source)
    return put_manifest(f"{host}/{repo}:{tag}", *found)


def index_entry(source: str) -> dict[str, Any]:
    """The entry of a single-platform manifest (tag or digest) in an index."""
    found = get_manifest(source)
    if found is None:
        raise Failure(f"{source} is not in the registry")
    media_type, body = found
    if media_type not in IMAGE_TYPES:
        raise Failure(f"{source} is not a single-platform image ({media_type})")
    return {"mediaType": media_type, "size": len(body), "digest": digest_of(body),
            "platform": image_platform(source, json.loads(body))}


def index_document(entries: list[dict[str, Any]]) -> bytes:
    """A Docker manifest list of ``entries``, byte for byte the same for the same entries."""
    return json.dumps({"schemaVersion": 2, "mediaType": LIST_TYPE, "manifests": entries}, indent=2).encode()


def index(ref: str, sources: list[str]) -> str:
    """Point the tag ``ref`` at an index of ``sources`` (in their order); returns its digest."""
    return put_manifest(ref, LIST_TYPE, index_document([index_entry(s) for s in sources]))


def has_blob(host: str, repo: str, digest: str) -> bool:
    return request(f"http://{host}/v2/{repo}/blobs/{digest}", "HEAD")[0] == 200


def _start_upload(host: str, repo: str, query: str = "") -> tuple[int, str]:
    status, _, headers = request(f"http://{host}/v2/{repo}/blobs/uploads/{query}", "POST", b"")
    location = headers.get("Location", "")
    if location.startswith("/"):
        location = f"http://{host}{location}"
    return status, location


def _finish_upload(host: str, repo: str, location: str, digest: str, data: Any, size: int) -> None:
    sep = "&" if "?" in location else "?"
    status, answer, _ = request(f"{location}{sep}digest={digest}", "PUT", data,
                                {"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    if status != 201:
        raise Failure(f"{host}/{repo}: uploading {digest} failed ({status}: {answer[:200]!r})")


def upload_blob(host: str, repo: str, digest: str, data: Any, size: int) -> None:
    """One blob (bytes or a file), unless the repository has it already (monolithic upload)."""
    if has_blob(host, repo, digest):
        return
    status, location = _start_upload(host, repo)
    if status != 202 or not location:
        raise Failure(f"{host}/{repo}: the registry refused to start an upload ({status})")
    _finish_upload(host, repo, location, digest, data, size)


def copy_blob(source: str, host: str, repo: str, digest: str) -> None:
    """Make the blob ``digest`` of ``source`` (HOST/REPO) one of ``host/repo``: mounted when both
    are one registry (no bytes move), else streamed through a temporary file."""
    src_host, _, src_repo = source.partition("/")
    if has_blob(host, repo, digest):
        return
    status, location = _start_upload(host, repo, f"?mount={digest}&from={src_repo}" if src_host == host else "")
    if status == 201:
        return
    if status != 202 or not location:
        raise Failure(f"{host}/{repo}: the registry refused to start an upload ({status})")
    with tempfile.TemporaryFile() as fh:
        req = urllib.request.Request(f"http://{src_host}/v2/{src_repo}/blobs/{digest}")
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                shutil.copyfileobj(resp, fh, CHUNK)
        except OSError as exc:
            raise Failure(f"{source}: cannot read blob {digest} ({exc})") from None
        size = fh.tell()
        fh.seek(0)
        _finish_upload(host, repo, location, digest, fh, size)


def push_rootfs(ref: str, arch: str, tar: IO[bytes]) -> str:
    """Gzip the tar stream into one layer, then push layer, config and manifest."""
    host, repo, _ = split(ref)
    raw, packed = hashlib.sha256(), hashlib.sha256()
    with tempfile.TemporaryFile() as layer:
        gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
        while chunk := tar.read(CHUNK):
            raw.update(chunk)
            data = gzip.compress(chunk)
            packed.update(data)
            layer.write(data)
        data = gzip.flush()
        packed.update(data)
        layer.write(data)
        size = layer.tell()
        if raw.digest() == hashlib.sha256(b"").digest():
            raise Failure(f"{ref}: no root filesystem came in on stdin")
        layer.seek(0)
        layer_digest = "sha256:" + packed.hexdigest()
        upload_blob(host, repo, layer_digest, layer, size)
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    config: dict[str, Any] = {
        "architecture": arch, "os": "linux", "created": now,
        "config": {"Env": ENV, "Cmd": ["python3"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + raw.hexdigest()]},
        "history": [{"created": now, "created_by": f"images/base.sh (Debian root for linux/{arch})"}],
    }
    if arch in VARIANTS:
        config["variant"] = VARIANTS[arch]
    config_bytes = json.dumps(config, indent=2).encode()
    config_digest = digest_of(config_bytes)
    upload_blob(host, repo, config_digest, config_bytes, len(config_bytes))
    manifest = {
        "schemaVersion": 2, "mediaType": IMAGE_TYPES[0],
        "config": {"mediaType": CONFIG_TYPE, "size": len(config_bytes), "digest": config_digest},
        "layers": [{"mediaType": LAYER_TYPE, "size": size, "digest": layer_digest}],
    }
    return put_manifest(ref, IMAGE_TYPES[0], json.dumps(manifest, indent=2).encode())


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 2 and argv[0] == "platforms":
            print(" ".join(platforms(argv[1])))
        elif len(argv) == 3 and argv[0] == "copy":
            print(copy(argv[1], argv[2]))
        elif len(argv) == 3 and argv[0] == "push":
            print(push_rootfs(argv[1], argv[2], sys.stdin.buffer))
        elif len(argv) >= 3 and argv[0] == "index":
            print(index(argv[1], argv[2:]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Failure as exc:
        print(f"registry_api: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
