"""A base's Debian packages are read out of the image once and kept by its digest; a damaged
entry is read again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helperhub.release.sbom_inputs import base_packages


def test_base_packages_kept_by_digest(client: Any, base_image: str, tmp_path: Path) -> None:
    read = base_packages(client, {"linux/amd64": base_image}, tmp_path)
    assert any(p.name == "libc6" for p in read["linux/amd64"])
    kept = list((tmp_path / "dpkg").iterdir())
    assert len(kept) == 1 and kept[0].name.startswith("sha256-")
    assert base_packages(client, {"linux/amd64": base_image}, tmp_path) == read
    kept[0].write_text("[[1]]")  # an entry that is no package list
    assert base_packages(client, {"linux/amd64": base_image}, tmp_path) == read
    assert base_packages(client, {"linux/amd64": base_image}, tmp_path / "none") == read
