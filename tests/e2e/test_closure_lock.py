"""The locked closure: resolved once at release for the steps' platform, installed exactly.

The decoy: a newer version of a closure package appears in the index after the release, and
nothing changes (the resolver's pure pieces are in tests/release/test_resolve.py)."""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import kfp
import pytest
from packaging.version import Version

from helperhub.core.progress import Silent
from helperhub.lock.lockfile import load_lock
from helperhub.pipelines.delivery import Delivery, Mode
from helperhub.pipelines.local_run import compile_pipeline, run_local
from helperhub.registry.client import IndexSettings, project_files
from helperhub.release.publish import publish
from helperhub.release.resolve import resolve_closure
from helperhub.release.run import release
from tests.conftest import make_repo, release_settings, start_index


def decoy_wheel(folder: Path, name: str, version: str) -> Path:
    """A newer, pure-Python ``name`` whose module fails on import: were it installed, steps would fail."""
    dist = f"{name}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as whl:
        whl.writestr(f"{name}/__init__.py", "raise ImportError('decoy: a dependency the lock does not pin')\n")
        whl.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        whl.writestr(f"{dist}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\n"
                     "Tag: py3-none-any\n")
        whl.writestr(f"{dist}.dist-info/RECORD", "")
    path.write_bytes(buf.getvalue())
    return path


@contextmanager
def private_pip_only(index: IndexSettings) -> Iterator[None]:
    """kfp.local's own pip calls see the private index alone, as pods do."""
    saved = dict(os.environ)
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        del os.environ[key]
    os.environ.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index.simple_url, PIP_TRUSTED_HOST=index.host)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def compiled_texts(root: Path, out: Path) -> dict[str, str]:
    lock = load_lock(root / "pins.json")
    return {m: compile_pipeline(Delivery(lock=lock, mode=m, source_root=root), out).read_text()
            for m in (Mode.PACKAGE, Mode.EMBEDDED)}


@pytest.mark.slow
def test_a_newer_dependency_in_the_index_changes_nothing(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    first = start_index(tmp_path / "first")
    port = int(first.settings.base.rsplit(":", 1)[1])
    try:
        release(release_settings(root, first.settings), [], Silent())
        lock_text = (root / "pins.json").read_text()
        locked_numpy = next(f for f in load_lock(root / "pins.json").packages["tabular-helpers"].closure
                            if f.name == "numpy")
        before = compiled_texts(root, tmp_path / "before")

        # newer than the locked numpy and inside every range that bounds it (scipy caps numpy)
        decoy_version = f"{Version(locked_numpy.version).base_version}.post99"
        decoy = decoy_wheel(tmp_path, "numpy", decoy_version)
        publish(first.settings, [decoy])
        assert decoy.name in project_files(first.settings, "numpy")
        # a fresh resolution would take it: the decoy is a real threat to an unlocked install
        fresh = resolve_closure(first.settings, "tabular-helpers", "1.0.0", ["model", "plots"], kfp.__version__)
        assert {f.name: f.version for f in fresh}["numpy"] == decoy_version

        assert compiled_texts(root, tmp_path / "after") == before  # the compiled specs do not change
        lock = load_lock(root / "pins.json")
        with private_pip_only(first.settings):
            result = run_local(Delivery(lock=lock, mode=Mode.PACKAGE, source_root=root), "subprocess",
                               tmp_path / "runs", n_samples=200, seed=3)
        assert 0.75 <= result.accuracy <= 1.0, result
    finally:
        first.stop()

    # the same source released again into an empty registry at the same address, the decoy
    # already there: the lock's closure is mirrored as locked and the lock stays byte for byte
    second = start_index(tmp_path / "second", port=port)
    try:
        publish(second.settings, [decoy])
        release(release_settings(root, second.settings), [], Silent())
        assert (root / "pins.json").read_text() == lock_text
        assert locked_numpy.filename in project_files(second.settings, "numpy")
    finally:
        second.stop()
