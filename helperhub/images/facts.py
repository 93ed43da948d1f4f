"""What Python an image runs, read from its files: version, implementation, glibc and CPU.

A target's wheels are resolved for these facts, so they are never typed by hand, and the image is
never started to learn them (an arm64 image would need emulation on an amd64 host): the engine
creates a container, copies a few files out of it and removes it.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from helperhub.core.errors import EngineError
from helperhub.core.targets import TargetFacts

# ELF e_machine -> what platform.machine() says on that CPU.
ELF_MACHINES = {3: "i686", 21: "ppc64", 22: "s390x", 40: "armv7l", 62: "x86_64", 183: "aarch64"}
PYTHON_DIRS = ("/usr/local", "/usr")  # the official python images, then Debian's python3
_PYTHON_NAME = re.compile(r"^python(\d+)\.(\d+)$")
_SOABI = re.compile(r"\.(cpython|pypy)-?(\d+)[^.]*\.so$")
_GLIBC_BANNER = re.compile(rb"GNU C Library [^\n\0]*?release version (\d+)\.(\d+)")


@dataclass(frozen=True)
class FileEntry:
    """One path copied out of an image: a symlink's target or a regular file's bytes."""

    name: str
    link: str | None
    data: bytes


def elf_machine(header: bytes) -> str:
    """The CPU an ELF binary is for, from its header (the first 20 bytes suffice)."""
    if len(header) < 20 or header[:4] != b"\x7fELF":
        raise EngineError("not an ELF binary; the image's python3 must be a native executable")
    little = header[5] == 1
    code = int.from_bytes(header[18:20], "little" if little else "big")
    if code not in ELF_MACHINES:
        raise EngineError(f"ELF machine {code} is not one helperhub knows; use an x86_64 or aarch64 image")
    return "ppc64le" if code == 21 and little else ELF_MACHINES[code]


def python_version(binary_name: str) -> str:
    """``python3.13`` -> ``3.13``."""
    match = _PYTHON_NAME.match(binary_name)
    if not match:
        raise EngineError(f"cannot tell a Python version from the interpreter's name {binary_name!r}")
    return f"{match[1]}.{match[2]}"


def implementation(extension_names: Iterable[str], python: str) -> str:
    """"cp" or "pp" from the ABI tags of the standard library's extension modules
    (``_ssl.cpython-313-x86_64-linux-gnu.so``)."""
    want = python.replace(".", "")
    for name in extension_names:
        match = _SOABI.search(name)
        if match and match[1] == "cpython" and match[2] == want:
            return "cp"
        if match and match[1] == "pypy":
            return "pp"
    raise EngineError(f"no extension module of Python {python} names its implementation")


def dpkg_installed(status: str) -> Iterator[dict[str, str]]:
    """The fields of each installed package of dpkg's status file (``/var/lib/dpkg/status``)."""
    for stanza in status.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line and not line[0].isspace() and ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            yield fields


def dpkg_version(status: str, package: str) -> str | None:
    """The version of an installed package from dpkg's status file; None when not installed."""
    return next((f.get("Version") for f in dpkg_installed(status) if f["Package"] == package), None)


def glibc_version(dpkg_status: str | None, libc: bytes | None) -> tuple[int, int]:
    """glibc's (major, minor): Debian's libc6 entry, else the banner inside libc.so.6."""
    version = dpkg_version(dpkg_status, "libc6") if dpkg_status else None
    if version:
        match = re.match(r"(?:\d+:)?(\d+)\.(\d+)", version)
        if match:
            return int(match[1]), int(match[2])
    found = _GLIBC_BANNER.search(libc or b"")
    if found:
        return int(found[1]), int(found[2])
    raise EngineError("found no glibc in the image (musl images are not supported); use a Debian-based image")


def _copy_out(client: Any, container: str, path: str) -> list[FileEntry] | None:
    """The tar entries the engine returns for ``path``; None when the path does not exist."""
    import docker.errors

    try:
        stream, _ = client.api.get_archive(container, path)
    except docker.errors.NotFound:
        return None
    entries = []
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream)), mode="r:") as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            link = member.linkname if member.issym() else None
            entries.append(FileEntry(member.name, link, handle.read() if handle else b""))
    return entries


def _one(client: Any, container: str, path: str) -> FileEntry | None:
    entries = _copy_out(client, container, path)
    return entries[0] if entries else None


@contextmanager
def created(client: Any, image: str) -> Iterator[str]:
    """A container of ``image`` (pulled when the engine lacks it) that never starts: its files can
    be copied out whatever CPU it is for. Removed afterwards."""
    import docker.errors

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        try:
            client.images.pull(image)
        except docker.errors.APIError as exc:
            raise EngineError(f"cannot pull {image} ({exc.explanation}); push it or check the name") from None
    container = client.api.create_container(image, command=["/nonexistent"])["Id"]
    try:
        yield str(container)
    finally:
        client.api.remove_container(container, force=True)


def runtime_facts(client: Any, image: str) -> TargetFacts:
    """The facts of ``image`` (pulled when the engine lacks it). Give a reference that names one
    platform (a digest from the index, or a TAG-ARCH tag): the engine keeps one platform a tag."""
    with created(client, image) as container:
        return _facts(client, container, image)


def image_files(client: Any, image: str, paths: Iterable[str]) -> dict[str, FileEntry | None]:
    """Files of ``image`` by path (None: absent), read without running it; a symlink's entry
    carries its target, not the file it leads to."""
    with created(client, image) as container:
        return {path: _one(client, container, path) for path in paths}


def _facts(client: Any, container: str, image: str) -> TargetFacts:
    for prefix in PYTHON_DIRS:
        entry = _one(client, container, f"{prefix}/bin/python3")
        if entry is None:
            continue
        name = entry.link.rsplit("/", 1)[-1] if entry.link else "python3"
        binary = _one(client, container, f"{prefix}/bin/{name}") if entry.link else entry
        if binary is None or binary.link:
            raise EngineError(f"{image}: {prefix}/bin/python3 leads to no executable; rebuild the image")
        python = python_version(name)
        machine = elf_machine(binary.data[:20])
        dynload = _copy_out(client, container, f"{prefix}/lib/python{python}/lib-dynload") or []
        impl = implementation((e.name for e in dynload), python)
        status = _one(client, container, "/var/lib/dpkg/status")
        libc = None if status else _one(client, container, f"/usr/lib/{machine}-linux-gnu/libc.so.6")
        glibc = glibc_version(status.data.decode("utf-8", "replace") if status else None,
                              libc.data if libc else None)
        return TargetFacts(python, impl, glibc, machine)
    raise EngineError(f"{image} has no python3 in {' or '.join(p + '/bin' for p in PYTHON_DIRS)}")
