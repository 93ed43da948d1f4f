"""One reader of core metadata, one grouping of files by version, and the lock's rules for a
released wheel's pin and a helper's dependency roots: pure functions, the inputs they meet."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace

import pytest

from helperhub.core.dists import dist_version, files_by_version
from helperhub.core.errors import LockError, MetadataError
from helperhub.core.metadata import CoreMetadata, metadata_member, parse_core_metadata, wheel_metadata
from helperhub.lock.closure import LockedFile
from helperhub.lock.lockfile import ImagePin, Lock, PackagePin, dependency_roots, pin_released_wheel
from helperhub.registry.client import IndexFile

METADATA = b"""Metadata-Version: 2.4
Name: Demo_Helpers
Version: 1.2.0
Summary: Demo helpers
  for tests.
License-Expression: Apache-2.0
Requires-Python: >=3.11
Requires-Dist: numpy>=1.26
Requires-Dist: scikit-learn>=1.4;
  extra == 'model'
Provides-Extra: model
Provides-Extra: plots
Description-Content-Type: text/markdown

# demo-helpers

Helps with demos.
"""


def wheel(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_folded_headers_and_multiple_use_fields_are_read_as_installers_read_them() -> None:
    meta = parse_core_metadata(METADATA)
    assert meta == CoreMetadata(
        name="Demo_Helpers", version="1.2.0", summary="Demo helpers for tests.",
        description="# demo-helpers\n\nHelps with demos.", description_content_type="text/markdown",
        requires_dist=("numpy>=1.26", "scikit-learn>=1.4; extra == 'model'"), provides_extra=("model", "plots"),
        requires_python=">=3.11", license="Apache-2.0",
    )
    assert parse_core_metadata(METADATA.decode()) == meta  # text or bytes alike


def test_what_cannot_be_read_is_empty_and_never_raises() -> None:
    assert parse_core_metadata(b"") == CoreMetadata()
    assert parse_core_metadata(b"Name: x\nRequires-Python: >=3.x\n\n").requires_python is None
    twice = parse_core_metadata(b"Name: first\nName: second\nLicense: MIT\nDescription: header\n\nbody\n")
    assert (twice.name, twice.license, twice.description) == ("first", "MIT", "body")


def test_a_wheel_has_exactly_one_metadata_at_its_top() -> None:
    assert metadata_member(["x/__init__.py", "x-1.dist-info/METADATA"], "x.whl") == "x-1.dist-info/METADATA"
    nested = ["x/vendored/y-1.dist-info/METADATA", "x-1.dist-info/METADATA"]  # a vendored one is not its own
    assert metadata_member(nested, "x.whl") == "x-1.dist-info/METADATA"
    with pytest.raises(MetadataError, match=r"^x.whl has 2 \*\.dist-info/METADATA files at its top, not one"):
        metadata_member(["a-1.dist-info/METADATA", "b-1.dist-info/METADATA"], "x.whl")
    assert wheel_metadata(wheel({"demo_helpers-1.2.0.dist-info/METADATA": METADATA})).version == "1.2.0"
    with pytest.raises(MetadataError, match="has 0"):  # pins bump once raised StopIteration here
        wheel_metadata(wheel({"demo_helpers/__init__.py": b""}), "demo.whl")
    with pytest.raises(MetadataError, match="not a readable zip file"):
        wheel_metadata(wheel({"m-1.dist-info/METADATA": METADATA})[:40], "cut.whl")


def test_files_by_version_newest_first_wheels_first_either_kind_of_file() -> None:
    names = ["h-1.9.0.tar.gz", "h-1.10.0.tar.gz", "h-1.10.0-py3-none-any.whl", "h-1.10-py3-none-any.whl",
             "h-latest.zip", "h-1.0.0rc1-py3-none-any.whl"]
    files = [IndexFile(n, f"http://x/{n}", "") for n in names]
    grouped = files_by_version(files)
    assert [str(v) for v, _ in grouped] == ["1.10.0", "1.9.0", "1.0.0rc1"]  # 1.10 is 1.10.0
    assert [f.filename for f in grouped[0][1]] == [
        "h-1.10-py3-none-any.whl", "h-1.10.0-py3-none-any.whl", "h-1.10.0.tar.gz"]
    assert dist_version("h-latest.zip") is None and dist_version("h-x.y.tar.gz") is None


SHA, OTHER = "a" * 64, "b" * 64
IMAGE = ImagePin("r:5000/h@sha256:" + "c" * 64, "r:5000/h:1.0.0", "", "r:5000")


def released(previous: PackagePin | None, sha256: str = SHA, **kw: str) -> PackagePin:
    return pin_released_wheel(previous, name="h", version="1.0.0", wheel="h-1.0.0-py3-none-any.whl",
                              sha256=sha256, url="http://i/packages/h-1.0.0-py3-none-any.whl",
                              index_url="http://i/simple/", kfp_version="2.17.3", **kw)


def test_the_same_wheel_released_or_bumped_again_keeps_its_entry() -> None:
    first = replace(released(None, commit="c1", source_sha256="s1"), released_at="2026-01-01T00:00:00Z").with_image(
        IMAGE)
    assert first.commit == "c1" and first.source_sha256 == "s1"
    # a bump knows no commit or source: the lock's stay
    assert released(first) == first
    assert released(first, commit="c2", source_sha256="s1") == first  # a release from a later commit
    # another wheel of the same version is another release: now, no image, what the caller knows
    other = released(first, OTHER)
    assert (other.commit, other.source_sha256, other.image) == ("", "", None)
    assert other.released_at != first.released_at


def test_dependency_roots_pinned_with_their_closures_extras() -> None:
    kfp = LockedFile("kfp", "2.17.3", "kfp-2.17.3-py3-none-any.whl", SHA)
    mpl = LockedFile("matplotlib", "3.9.0", "matplotlib-3.9.0-py3-none-any.whl", SHA, ("plots",))
    dep = replace(released(None), name="tab").with_closure((kfp, mpl))
    lock = Lock({"tab": dep})
    roots, locked = dependency_roots(lock, ["Tab", "vision"])
    assert roots == ["tab[plots]", "vision"]  # an unpinned one is resolved from the index
    assert locked == [dep.wheel_file(), kfp, mpl]
    with pytest.raises(LockError, match=r"no pin for 'vision'.*make release PACKAGE=vision"):
        dependency_roots(lock, ["tab", "vision"], required=True)
    with pytest.raises(LockError, match="no locked closure"):
        dependency_roots(Lock({"tab": dep.with_closure(())}), ["tab"], required=True)


def test_a_single_use_field_written_twice_keeps_the_first() -> None:
    meta = parse_core_metadata(b"Metadata-Version: 2.1\nName: x\nVersion: 1\nRequires-Python: >=3.11\n"
                               b"Requires-Python: >=3.9\nDescription-Content-Type: text/markdown\n"
                               b"Description-Content-Type: text/x-rst\n\n")
    assert meta.requires_python == ">=3.11"
    assert meta.description_content_type == "text/markdown"
