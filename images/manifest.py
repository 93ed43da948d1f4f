"""Read and write image manifests in a plain-HTTP OCI registry (distribution v2), with the standard
library only: images/base.sh runs before the project's virtualenv exists.

  manifest.py platforms HOST/REPO:TAG        the tag's platforms, e.g. "amd64 arm64" ("" if absent)
  manifest.py copy HOST/REPO:FROM TO         point tag TO at FROM's manifest (same digest, no pull)
  manifest.py index HOST/REPO:TAG FROM...    point TAG at a multi-platform index of the FROM tags
  manifest.py push HOST/REPO:TAG ARCH        push the root filesystem tar on stdin as a one-layer
                                             image for linux/ARCH (python:X.Y-slim's settings)

`push` writes the image config itself: `docker import --platform` of Docker 20.10 records the
engine's own CPU whatever it is told, so an arm64 root would be labelled amd64.

The index is a Docker manifest list (the OCI image index's twin, same JSON shape): the registry
then still answers a client that accepts only single-platform manifests (helperhub.images.oci,
old engines) with the linux/amd64 manifest, where an OCI index type makes it answer 404
("OCI index found, but accept header does not support OCI indexes").
"""

from __future__ import annotations

import datetime
import hashlib
import json
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from typing import Any

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
ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8", "PYTHONDONTWRITEBYTECODE=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_NO_CACHE_DIR=1",
]
VARIANTS = {"arm64": "v8"}  # what engines and indexes name the arm64 platform with


class Failure(Exception):
    pass


def split(ref: str) -> tuple[str, str, str]:
    """``127.0.0.1:5000/python:3.11-slim`` -> (``127.0.0.1:5000``, ``python``, ``3.11-slim``)."""
    host, _, rest = ref.partition("/")
    repo, _, tag = rest.rpartition(":")
    if not host or not repo or not tag:
        raise Failure(f"{ref!r} is not HOST:PORT/REPOSITORY:TAG")
    return host, repo, tag


def request(url: str, method: str = "GET", data: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)
    except OSError as exc:
        raise Failure(f"cannot reach the OCI registry at {url.split('/v2/')[0]} ({exc})") from None


def get_manifest(ref: str) -> tuple[str, bytes] | None:
    """(media type, exact bytes) of the manifest a tag points at; None when the tag is absent."""
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
    host, repo, tag = split(ref)
    status, answer, headers = request(f"http://{host}/v2/{repo}/manifests/{tag}", "PUT", body,
                                      {"Content-Type": media_type})
    if status not in (200, 201):
        raise Failure(f"{ref}: the registry refused the manifest ({status}: {answer[:200]!r})")
    return headers.get("Docker-Content-Digest", "")


def image_platform(ref: str, manifest: dict[str, Any]) -> dict[str, str]:
    """os/architecture(/variant) of a single-platform manifest, from its config blob."""
    host, repo, _ = split(ref)
    digest = manifest["config"]["digest"]
    status, body, _ = request(f"http://{host}/v2/{repo}/blobs/{digest}")
    if status != 200:
        raise Failure(f"{ref}: config blob {digest} answered {status}")
    config = json.loads(body)
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


def index(ref: str, sources: list[str]) -> str:
    entries = []
    for source in sources:
        found = get_manifest(source)
        if found is None:
            raise Failure(f"{source} is not in the registry")
        media_type, body = found
        if media_type not in IMAGE_TYPES:
            raise Failure(f"{source} is not a single-platform image ({media_type})")
        entries.append({
            "mediaType": media_type, "size": len(body),
            "digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            "platform": image_platform(source, json.loads(body)),
        })
    document = {"schemaVersion": 2, "mediaType": LIST_TYPE, "manifests": entries}
    return put_manifest(ref, LIST_TYPE, json.dumps(document, indent=2).encode())


def upload_blob(host: str, repo: str, digest: str, data: Any, size: int) -> None:
    """One blob, unless the repository has it already (monolithic upload: POST, then PUT)."""
    status, _, _ = request(f"http://{host}/v2/{repo}/blobs/{digest}", "HEAD")
    if status == 200:
        return
    status, _, headers = request(f"http://{host}/v2/{repo}/blobs/uploads/", "POST", b"")
    location = headers.get("Location", "")
    if status != 202 or not location:
        raise Failure(f"{host}/{repo}: the registry refused to start an upload ({status})")
    if location.startswith("/"):
        location = f"http://{host}{location}"
    sep = "&" if "?" in location else "?"
    status, answer, _ = request(f"{location}{sep}digest={digest}", "PUT", data,
                                {"Content-Type": "application/octet-stream", "Content-Length": str(size)})
    if status != 201:
        raise Failure(f"{host}/{repo}: uploading {digest} failed ({status}: {answer[:200]!r})")


def push(ref: str, arch: str, tar: Any) -> str:
    """Gzip the tar stream into one layer, then push layer, config and manifest."""
    host, repo, _ = split(ref)
    raw, packed = hashlib.sha256(), hashlib.sha256()
    with tempfile.TemporaryFile() as layer:
        gzip = zlib.compressobj(6, zlib.DEFLATED, 31)
        while chunk := tar.read(1 << 20):
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
    config_digest = "sha256:" + hashlib.sha256(config_bytes).hexdigest()
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
            print(push(argv[1], argv[2], sys.stdin.buffer))
        elif len(argv) >= 3 and argv[0] == "index":
            print(index(argv[1], argv[2:]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except Failure as exc:
        print(f"manifest: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
