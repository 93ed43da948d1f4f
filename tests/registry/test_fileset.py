"""One file set per release: which new files of a released version could shadow an old one."""

from __future__ import annotations

import pytest

from helperhub.registry.server.fileset import shadowed_by

PURE = "lib-1.0.0-py3-none-any.whl"
LINUX = "lib-1.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"


@pytest.mark.parametrize(
    ("new", "existing", "twin"),
    [
        ("lib-1.0.0-1-py3-none-any.whl", [PURE], PURE),  # build-tagged twin
        ("lib-1.0.0-cp311-cp311-manylinux_2_28_x86_64.whl", [LINUX], LINUX),  # newer glibc, same machine
        ("lib-1.0.0-cp311-cp311-linux_x86_64.whl", [LINUX], LINUX),
        (LINUX, [PURE], PURE),  # a compiled wheel would be preferred over the pure one on cp311
        ("lib-1.0.0-py311-none-any.whl", [PURE], PURE),
        ("lib-1.0.0-cp312-cp312-manylinux_2_17_x86_64.whl", ["lib-1.0.0-cp311-abi3-manylinux_2_17_x86_64.whl"],
         "lib-1.0.0-cp311-abi3-manylinux_2_17_x86_64.whl"),  # abi3 installs on later CPythons
        ("lib-1.0.0-cp311-cp311-macosx_11_0_arm64.whl", ["lib-1.0.0-cp311-cp311-macosx_10_9_universal2.whl"],
         "lib-1.0.0-cp311-cp311-macosx_10_9_universal2.whl"),
        ("lib-1.0.tar.gz", ["lib-1.0.0.tar.gz"], "lib-1.0.0.tar.gz"),  # one sdist per version
    ],
)
def test_twins_are_found(new: str, existing: list[str], twin: str) -> None:
    assert shadowed_by(new, existing) == twin


@pytest.mark.parametrize(
    ("new", "existing"),
    [
        ("lib-1.0.0-cp311-cp311-macosx_11_0_arm64.whl", [LINUX]),  # another platform
        ("lib-1.0.0-cp312-cp312-manylinux_2_17_x86_64.whl", [LINUX]),  # another interpreter
        ("lib-1.0.0-cp311-cp311-musllinux_1_1_x86_64.whl", [LINUX]),  # another libc
        ("lib-1.0.0-cp311-cp311-manylinux_2_17_aarch64.whl", [LINUX]),  # another architecture
        ("lib-1.0.0-cp310-abi3-manylinux_2_17_x86_64.whl", ["lib-1.0.0-cp39-cp39-manylinux_2_17_x86_64.whl"]),
        ("lib-1.0.0.tar.gz", [PURE]),  # the sdist beside a wheel
        ("lib-1.0.1-py3-none-any.whl", [PURE]),  # another version
        (PURE, [PURE]),  # the same name is the store's own conflict, not a twin
    ],
)
def test_other_targets_are_accepted(new: str, existing: list[str]) -> None:
    assert shadowed_by(new, existing) is None
