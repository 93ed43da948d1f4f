"""`helperhub helpers list|show`: discovery from the registry alone."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
import requests
from click.testing import CliRunner
from packaging.version import Version

from helperhub.cli import cli
from helperhub.core.dists import files_by_version
from helperhub.core.errors import ConfigError, MetadataError, RegistryError
from helperhub.core.metadata import wheel_metadata
from helperhub.lock.lockfile import load_lock
from helperhub.pipelines.catalog import (
    is_helper,
    list_helpers,
    show_helper,
    unknown_helper_error,
)
from helperhub.registry.client import IndexFile, IndexSettings, project_files
from tests.conftest import ReleasedRepo, free_port

METADATA = b"""Metadata-Version: 2.4
Name: demo-helpers
Version: 1.2.0
Summary: Demo helpers
  for tests.
Requires-Dist: numpy>=1.26
Requires-Dist: scikit-learn>=1.4; extra == 'model'
Provides-Extra: model
Description-Content-Type: text/markdown

# demo-helpers

Helps with demos.
"""


def wheel_bytes(metadata: bytes, dist_info: str = "demo_helpers-1.2.0.dist-info") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("demo_helpers/__init__.py", "")
        zf.writestr(f"{dist_info}/METADATA", metadata)
        zf.writestr(f"{dist_info}/WHEEL", "Wheel-Version: 1.0\n")
    return buf.getvalue()


# -- pure -----------------------------------------------------------------------------------------


def test_metadata_read_from_a_wheel_in_memory() -> None:
    meta = wheel_metadata(wheel_bytes(METADATA), "demo_helpers-1.2.0-py3-none-any.whl")
    assert (meta.name, meta.version) == ("demo-helpers", "1.2.0")
    assert meta.summary == "Demo helpers for tests."  # folded header, one line
    assert meta.requires_dist == ("numpy>=1.26", "scikit-learn>=1.4; extra == 'model'")
    assert meta.provides_extra == ("model",)
    assert meta.description == "# demo-helpers\n\nHelps with demos."


def test_metadata_missing_or_not_a_zip_is_one_line() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("demo_helpers/__init__.py", "")
    with pytest.raises(MetadataError, match=r"0 \*\.dist-info/METADATA"):
        wheel_metadata(buf.getvalue(), "x.whl")
    with pytest.raises(MetadataError, match="not a readable zip"):
        wheel_metadata(b"not a zip", "x.whl")


def test_a_helper_has_an_sdist_the_mirror_and_the_tool_do_not() -> None:
    assert is_helper("tabular-helpers", ["tabular_helpers-1.0.0-py3-none-any.whl", "tabular_helpers-1.0.0.tar.gz"])
    assert not is_helper("numpy", ["numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.whl"])
    assert not is_helper("helperhub", ["helperhub-0.1.0-py3-none-any.whl", "helperhub-0.1.0.tar.gz"])
    assert not is_helper("empty", [])


def test_versions_newest_first_wheel_first() -> None:
    names = ["h-1.9.0.tar.gz", "h-1.10.0.tar.gz", "h-1.10.0-py3-none-any.whl", "h-1.0.0rc1-py3-none-any.whl"]
    files = {n: IndexFile(n, f"http://x/packages/{n}", "") for n in names}
    grouped = files_by_version(files.values())
    assert [str(v) for v, _ in grouped] == ["1.10.0", "1.9.0", "1.0.0rc1"]
    assert [f.filename for f in grouped[0][1]] == ["h-1.10.0-py3-none-any.whl", "h-1.10.0.tar.gz"]


def test_unknown_name_names_the_nearest_helpers() -> None:
    err = unknown_helper_error("tabular-helper", ["tabular-helpers", "vision-helpers"], "http://idx")
    assert isinstance(err, ConfigError)
    assert "did you mean tabular-helpers" in str(err) and "http://idx" in str(err)
    assert "helpers list" in str(unknown_helper_error("zzz", ["tabular-helpers"], "http://idx"))


# -- a real registry and OCI registry -------------------------------------------------------------


def test_list_shows_the_helpers_and_not_the_mirror(released_all: ReleasedRepo) -> None:
    settings = released_all.index.settings
    rows = {r.name: r for r in list_helpers(settings)}
    assert {"tabular-helpers", "vision-helpers"} <= set(rows)
    for name in ("numpy", "kfp", "pandas", "helperhub"):
        assert name not in rows
    assert project_files(settings, "numpy")  # mirrored, yet not listed
    tabular = rows["tabular-helpers"]
    assert "1.0.0" in [v.version for v in tabular.versions]
    assert not any(v.yanked for v in tabular.versions)
    assert tabular.summary.startswith("Imputation, data-quality checks")
    assert rows["vision-helpers"].summary.startswith("Contrast equalisation")


def test_show_gives_time_requirements_digest_and_readme(released_all: ReleasedRepo) -> None:
    settings = released_all.index.settings
    pin = load_lock(released_all.root / "pins.json").packages["tabular-helpers"]
    detail = show_helper(settings, "Tabular_Helpers", released_all.oci)
    assert detail.name == "tabular-helpers" and not detail.warnings
    versions = [Version(v.version) for v in detail.versions]
    assert versions == sorted(versions, reverse=True)
    row = next(v for v in detail.versions if v.version == pin.version)
    assert row.released is not None
    assert timedelta(0) <= datetime.now(UTC) - row.released < timedelta(days=1)
    assert row.sha256 == pin.sha256 and row.wheel == pin.wheel
    assert "numpy>=1.26" in row.requires
    sklearn = [r for r in row.requires if r.startswith("scikit-learn")]
    assert sklearn and "extra ==" in sklearn[0]
    assert pin.image is not None and row.image_digest == pin.image.ref.split("@", 1)[1]
    assert set(detail.extras) >= {"plots", "model"}
    assert detail.description.startswith("# tabular-helpers")
    assert "Data-quality checks" in detail.description
    # the header the release time comes from, as HTTP dates are
    head = requests.head(pin.url, timeout=10)
    assert head.headers["Last-Modified"].endswith(" GMT")


def test_show_with_oci_down_warns_once_and_shows_no_digest(released_all: ReleasedRepo) -> None:
    detail = show_helper(released_all.index.settings, "tabular-helpers", f"127.0.0.1:{free_port()}")
    assert all(v.image_digest is None for v in detail.versions)
    assert len(detail.warnings) == 1 and "cannot reach the OCI registry" in detail.warnings[0]
    assert detail.versions[0].requires  # the index still answered


def test_unknown_name_suggests_the_nearest_helper(released_all: ReleasedRepo) -> None:
    with pytest.raises(ConfigError, match=r"no helper named 'tabular-helper'.*did you mean tabular-helpers"):
        show_helper(released_all.index.settings, "tabular-helper")


def test_a_mirrored_project_is_not_a_helper(released_all: ReleasedRepo) -> None:
    with pytest.raises(ConfigError, match=r"numpy is a third-party project mirrored .* not a helper"):
        show_helper(released_all.index.settings, "numpy")


def test_unreachable_index_says_where_and_how_to_set_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for call in (lambda s: list_helpers(s), lambda s: show_helper(s, "tabular-helpers")):
        with pytest.raises(RegistryError, match=f"cannot reach the package index at {url}.*HUB_INDEX_URL"):
            call(IndexSettings(url))


def test_cli_lists_and_shows(released_all: ReleasedRepo) -> None:
    env = {**os.environ, "COLUMNS": "250", "HUB_INDEX_URL": released_all.index.settings.url}
    listed = subprocess.run([sys.executable, "-m", "helperhub", "helpers", "list"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout + listed.stderr
    assert "tabular-helpers" in out and "vision-helpers" in out and "1.0.0" in out
    assert "Imputation, data-quality checks" in out and "numpy " not in out
    shown = subprocess.run([sys.executable, "-m", "helperhub", "helpers", "show", "tabular-helper",
                            "--oci-registry", released_all.oci], capture_output=True, text=True, env=env, timeout=120)
    assert shown.returncode == 1
    errors = [line for line in shown.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "did you mean tabular-helpers" in errors[0]


def test_cli_help_explains_the_commands() -> None:
    runner = CliRunner()
    group = runner.invoke(cli, ["helpers", "--help"])
    assert group.exit_code == 0 and "list" in group.output and "show" in group.output
    listed = runner.invoke(cli, ["helpers", "list", "--help"])
    assert listed.exit_code == 0 and "Every helper in the index" in listed.output and "--index-url" in listed.output
    shown = runner.invoke(cli, ["helpers", "show", "--help"])
    assert shown.exit_code == 0 and "Versions of helper NAME" in shown.output
    assert "--oci-registry" in shown.output and "--limit" in shown.output
