"""The parsers behind helperhub.images.facts, on small made-up inputs (no engine)."""

from __future__ import annotations

from typing import Literal

import pytest

from helperhub.core.errors import EngineError
from helperhub.images.facts import dpkg_version, elf_machine, glibc_version, implementation, python_version


def elf_header(machine: int, *, little: bool = True) -> bytes:
    order: Literal["little", "big"] = "little" if little else "big"
    ident = b"\x7fELF" + bytes([2, 1 if little else 2, 1]) + bytes(9)
    return ident + (2).to_bytes(2, order) + machine.to_bytes(2, order) + bytes(44)


STATUS = """Package: libc6
Status: deinstall ok config-files
Architecture: amd64
Version: 2.31-13

Package: libc-bin
Status: install ok installed
Version: 2.41-12
Description: GNU C Library: Binaries
 Package: libc6
 Version: 9.99

Package: libc6
Status: install ok installed
Priority: optional
Architecture: arm64
Multi-Arch: same
Version: 2.41-12
"""


def test_elf_machine_reads_e_machine_in_the_header_byte_order() -> None:
    assert elf_machine(elf_header(62)) == "x86_64"
    assert elf_machine(elf_header(183)) == "aarch64"
    assert elf_machine(elf_header(22, little=False)) == "s390x"
    assert elf_machine(elf_header(21)) == "ppc64le"
    with pytest.raises(EngineError, match="not an ELF"):
        elf_machine(b"#!/bin/sh\nexec python3.13 \"$@\"\n")
    with pytest.raises(EngineError, match="ELF machine 243"):
        elf_machine(elf_header(243))  # riscv


def test_python_version_and_implementation_come_from_file_names() -> None:
    assert python_version("python3.13") == "3.13"
    with pytest.raises(EngineError):
        python_version("python3")
    names = ["lib-dynload", "lib-dynload/_ssl.cpython-313-aarch64-linux-gnu.so"]
    assert implementation(names, "3.13") == "cp"
    assert implementation(["_ssl.pypy310-pp73-x86_64-linux-gnu.so"], "3.10") == "pp"
    with pytest.raises(EngineError):
        implementation(["_ssl.cpython-311-x86_64-linux-gnu.so"], "3.13")


def test_dpkg_version_takes_the_installed_stanza_of_that_package_only() -> None:
    assert dpkg_version(STATUS, "libc6") == "2.41-12"
    assert dpkg_version(STATUS, "libc-bin") == "2.41-12"
    assert dpkg_version(STATUS, "python3") is None
    assert glibc_version(STATUS, None) == (2, 41)
    assert glibc_version("Package: libc6\nStatus: install ok installed\nVersion: 1:2.36-9+deb12u4\n", None) == (2, 36)


def test_glibc_falls_back_to_the_banner_in_libc_so() -> None:
    libc = b"\0junk\0GNU C Library (Debian GLIBC 2.36-9+deb12u14) stable release version 2.36.\n\0"
    assert glibc_version(None, libc) == (2, 36)
    assert glibc_version("Package: musl\nStatus: install ok installed\nVersion: 1.2\n", libc) == (2, 36)
    with pytest.raises(EngineError, match="no glibc"):
        glibc_version(None, b"musl libc")
