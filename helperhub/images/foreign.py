"""The image of a platform whose CPU is not the host's, built without emulation: its /opt/helpers
installed on the host (``venv_tree``) and appended to the platform's base manifest as one layer
through the registry API. The base is read, never run: its manifest and config from the
registry, its python3, dpkg status and accounts from a created (not started) container."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helperhub.core.errors import EngineError
from helperhub.core.targets import TargetFacts
from helperhub.images.append import NewLayer, appended, push_appended, read_base
from helperhub.images.context import install_layers
from helperhub.images.facts import PYTHON_DIRS, FileEntry, dpkg_version, image_files
from helperhub.images.layer import Entry, account_lines, pack_layer, tree_entries
from helperhub.images.target_context import PlatformWheel
from helperhub.images.venv_tree import BasePython, host_uv, install_tree
from helperhub.lock.closure import LockedFile, rebase_url
from helperhub.registry.client import IndexSettings

_RELEASE = re.compile(r"(?:\d+:)?(\d+\.\d+\.\d+)")


@dataclass(frozen=True)
class ForeignBuild:
    """What one platform's image is made of."""

    wheel: PlatformWheel  # the helper with this platform's closure
    platform: str  # "linux/arm64"
    base: str  # the platform's base: repo@sha256:<its manifest>
    facts: TargetFacts
    labels: Mapping[str, str]  # every label of the image (io.helperhub.*, org.opencontainers.*)
    user: str  # root or UID:GID


def python_release(python: str, dpkg_status: str | None, env: list[str], binary: bytes) -> str:
    """The base's Python as X.Y.Z (what its venv writes in pyvenv.cfg): Debian's ``pythonX.Y``
    package, else the official images' PYTHON_VERSION, else the version string in its binary."""
    packaged = dpkg_version(dpkg_status, f"python{python}") if dpkg_status else None
    if packaged and (match := _RELEASE.match(packaged)):
        return match[1]
    for item in env:
        key, _, value = item.partition("=")
        if key == "PYTHON_VERSION" and value.startswith(f"{python}."):
            return value
    found = re.search(rb"\x00(" + re.escape(python.encode()) + rb"\.\d+)\x00", binary)
    if found:
        return found[1].decode()
    raise EngineError(f"cannot tell which Python {python}.x the base runs; use a Debian or official python base")


def base_python(client: Any, base: str, python: str, env: list[str]) -> tuple[BasePython, dict[str, FileEntry | None]]:
    """The base's python3 and the files the layer changes (/etc/passwd, /etc/group)."""
    accounts = ("/etc/passwd", "/etc/group")
    files = image_files(client, base, [f"{p}/bin/python3" for p in PYTHON_DIRS] + ["/var/lib/dpkg/status", *accounts])
    for prefix in PYTHON_DIRS:
        entry = files[f"{prefix}/bin/python3"]
        if entry is None:
            continue
        link = entry.link or ""
        executable = link if link.startswith("/") else f"{prefix}/bin/{link or 'python3'}"
        status = files["/var/lib/dpkg/status"]
        dpkg = status.data.decode("utf-8", "replace") if status else None
        binary = b""
        if not dpkg or not dpkg_version(dpkg, f"python{python}"):
            more = image_files(client, base, [executable, f"{prefix}/lib/libpython{python}.so.1.0"])
            binary = b"".join(e.data for e in more.values() if e is not None)
        release = python_release(python, dpkg, env, binary)
        return BasePython(prefix, executable, release), {p: files[p] for p in accounts}
    raise EngineError(f"{base} has no python3 in {' or '.join(p + '/bin' for p in PYTHON_DIRS)}")


def build_foreign(build: ForeignBuild, ref: str, index: IndexSettings, uv: LockedFile, cache: Path,
                  client: Any) -> str:
    """Install, layer and push the image of ``build`` as ``ref`` (REPO:TAG) with ``uv`` (the
    lock's uv for the host's CPU); returns the manifest digest the registry stored."""
    base = read_base(build.base)
    python, files = base_python(client, build.base, build.facts.python, list(base.run.get("Env") or []))
    third, helpers = install_layers(build.wheel, index.simple_url)
    uv_binary = host_uv(cache, uv, rebase_url(uv.url(build.wheel.url), index.simple_url))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "root")
        root.mkdir()
        install_tree(uv_binary, root, third, helpers, build.facts, python)
        entries = tree_entries(root)
        passwd, group = (files[p] for p in ("/etc/passwd", "/etc/group"))
        changed = account_lines(passwd.data.decode() if passwd else "", group.data.decode() if group else "",
                                build.user)
        if changed is not None:
            entries += [Entry("etc/passwd", "file", 0o644, changed[0].encode()),
                        Entry("etc/group", "file", 0o644, changed[1].encode())]
        layer = pack_layer(entries, Path(tmp, "layer.tar"), Path(tmp, "layer.tar.gz"))
        comment = (f"helperhub: /opt/helpers of {build.wheel.name} {build.wheel.version} for {build.platform}, "
                   "installed on the host")
        new = [NewLayer(layer, Path(tmp, "layer.tar.gz"), comment)]
        config, media_type, manifest = appended(base, new, build.labels, build.user)
        return push_appended(base, ref, new, config, media_type, manifest)
