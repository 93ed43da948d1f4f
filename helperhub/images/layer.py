"""Pure parts of a helper image assembled without running the base: the layer's entries and
bytes, the account lines of a non-root user, the image config and manifest.

A platform whose CPU is not the host's gets its ``/opt/helpers`` installed on the host
(``venv_tree``) and appended to its base as one layer through the registry API (``foreign``).
Everything here is deterministic: sorted entries, one fixed mtime, root ownership, gzip without
a timestamp, sorted JSON; so the same inputs give the same digests on a rebuild."""

from __future__ import annotations

import copy
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from helperhub.core.errors import ConfigError
from helperhub.images.context import ROOT
from helperhub.images.registry_api import CONFIG_TYPE, IMAGE_TYPES, LAYER_TYPE, OCI_TYPES

VENV = "/opt/helpers"  # where helper.Dockerfile puts the venv
MTIME = 0  # every entry's mtime: a rebuild gives the same layer
ACCOUNT = "helper"  # the account helper.Dockerfile adds for a numeric non-root user
HOME, SHELL = "/nonexistent", "/usr/sbin/nologin"


@dataclass(frozen=True)
class Entry:
    """One entry of a layer: a directory, a regular file (bytes or a file on disk) or a symlink."""

    path: str  # relative to the image root, no leading slash: "opt/helpers/bin/python"
    kind: str  # "dir", "file" or "link"
    mode: int = 0o644
    data: bytes = b""
    source: Path | None = None  # a regular file's bytes on disk (instead of ``data``)
    link: str = ""


def tree_entries(root: Path) -> list[Entry]:
    """Every path under ``root`` as entries relative to it; modes normalised (0755 for directories
    and executables, 0644 for other files) so the host's umask does not change the layer."""
    entries = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                entries.append(Entry(rel, "link", 0o777, link=os.readlink(path)))
            elif stat.S_ISDIR(info.st_mode):
                entries.append(Entry(rel, "dir", 0o755))
            elif stat.S_ISREG(info.st_mode):
                entries.append(Entry(rel, "file", 0o755 if info.st_mode & 0o111 else 0o644, source=path))
            else:
                raise ConfigError(f"{path} is neither a file, a directory nor a symlink; it cannot go into an image")
    return entries


def write_tar(entries: Iterable[Entry], out: IO[bytes]) -> None:
    """The layer's tar: entries sorted by path (parents first), root-owned, one mtime."""
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(entries, key=lambda e: e.path.split("/")):
            info = tarfile.TarInfo(entry.path)
            info.mode, info.mtime, info.uid, info.gid, info.uname, info.gname = entry.mode, MTIME, 0, 0, "root", "root"
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, entry.link
                tar.addfile(info)
            elif entry.source is not None:
                info.size = entry.source.stat().st_size
                with entry.source.open("rb") as fh:
                    tar.addfile(info, fh)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))


@dataclass(frozen=True)
class Layer:
    diff_id: str  # sha256 of the tar: the config's rootfs names it
    digest: str  # sha256 of the gzip: the manifest names it
    size: int  # of the gzip


def pack_layer(entries: Iterable[Entry], tar_path: Path, gz_path: Path) -> Layer:
    """Write the tar and its gzip (no name, mtime 0) beside each other; their digests and size."""
    with tar_path.open("wb") as fh:
        write_tar(entries, fh)
    with (tar_path.open("rb") as src, gz_path.open("wb") as raw,
          gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz):
        shutil.copyfileobj(src, gz, 1 << 20)
    return Layer(f"sha256:{_sha256(tar_path)}", f"sha256:{_sha256(gz_path)}", gz_path.stat().st_size)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def account_lines(passwd: str, group: str, user: str) -> tuple[str, str] | None:
    """/etc/passwd and /etc/group with the account ``helper`` for a numeric ``UID:GID`` as
    helper.Dockerfile adds it (groupadd/useradd --system, no home, no login shell): a group and a
    user each only when the base has none with that id. None when nothing changes (root, or ids
    the base has)."""
    if user == ROOT:
        return None
    uid, gid = user.split(":")
    new_group, new_passwd = group, passwd
    if not any(_field(line, 2) == gid for line in group.splitlines()):
        new_group = _append(group, f"{ACCOUNT}:x:{gid}:", "group")
    if not any(_field(line, 2) == uid for line in passwd.splitlines()):
        new_passwd = _append(passwd, f"{ACCOUNT}:x:{uid}:{gid}::{HOME}:{SHELL}", "passwd")
    if (new_passwd, new_group) == (passwd, group):
        return None
    return new_passwd, new_group


def _field(line: str, index: int) -> str:
    parts = line.split(":")
    return parts[index] if len(parts) > index else ""


def _append(text: str, line: str, what: str) -> str:
    if any(_field(existing, 0) == ACCOUNT for existing in text.splitlines()):
        raise ConfigError(f"the base image has a {what} entry named {ACCOUNT} with another id; "
                          "set image-user to its ids, or use a base image without it")
    return (text if not text or text.endswith("\n") else text + "\n") + line + "\n"


def pyvenv_cfg(prefix: str, version: str, executable: str) -> str:
    """What ``python3 -m venv --without-pip /opt/helpers`` writes with the base's ``python3``
    in ``prefix``/bin (``version`` X.Y.Z, ``executable``: where python3's links end)."""
    return (f"home = {prefix}/bin\ninclude-system-site-packages = false\nversion = {version}\n"
            f"executable = {executable}\ncommand = {prefix}/bin/python3 -m venv --without-pip {VENV}\n")


def venv_env(env: Iterable[str]) -> list[str]:
    """The base's Env after helper.Dockerfile's ``ENV VIRTUAL_ENV=/opt/helpers PATH=/opt/helpers/bin:${PATH}``:
    a variable the base sets keeps its place, a new one is appended (as the engine does)."""
    values = list(env)
    path = next((v.partition("=")[2] for v in values if v.startswith("PATH=")), "")
    for key, value in (("VIRTUAL_ENV", VENV), ("PATH", f"{VENV}/bin:{path}")):
        at = next((i for i, v in enumerate(values) if v.partition("=")[0] == key), None)
        if at is None:
            values.append(f"{key}={value}")
        else:
            values[at] = f"{key}={value}"
    return values


def image_config(base: Mapping[str, Any], layer: Layer, labels: Mapping[str, str], user: str, comment: str) -> bytes:
    """The base's config with the layer appended: helper.Dockerfile's Env, labels and User; the
    base's platform and creation time (a rebuild gives the same bytes)."""
    config = copy.deepcopy(dict(base))
    for legacy in ("container", "container_config"):  # how the base itself was built
        config.pop(legacy, None)
    run = dict(config.get("config") or {})
    run["Env"] = venv_env(run.get("Env") or [])
    run["Labels"] = {**(run.get("Labels") or {}), **labels}
    run["User"] = user
    config["config"] = run
    rootfs = dict(config.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = [*rootfs.get("diff_ids", []), layer.diff_id]
    config["rootfs"] = rootfs
    step = {"created_by": comment}
    if config.get("created"):
        step = {"created": config["created"], **step}
    config["history"] = [*config.get("history", []), step]
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode()


def image_manifest(base_type: str, base: Mapping[str, Any], config: bytes, layer: Layer) -> tuple[str, bytes]:
    """(media type, bytes) of the base's manifest with the new config and the layer appended, in
    the base's manifest type (a Docker or an OCI manifest)."""
    if base_type not in IMAGE_TYPES:
        raise ConfigError(f"the base's manifest is a {base_type}, not a single-platform image; pin one platform")
    oci = base_type == IMAGE_TYPES[1]
    config_type = OCI_TYPES[CONFIG_TYPE] if oci else CONFIG_TYPE
    layer_type = OCI_TYPES[LAYER_TYPE] if oci else LAYER_TYPE
    manifest = copy.deepcopy(dict(base))
    manifest["config"] = {"mediaType": config_type, "size": len(config),
                          "digest": "sha256:" + hashlib.sha256(config).hexdigest()}
    manifest["layers"] = [*manifest.get("layers", []),
                          {"mediaType": layer_type, "size": layer.size, "digest": layer.digest}]
    return base_type, json.dumps(manifest, indent=2).encode()
