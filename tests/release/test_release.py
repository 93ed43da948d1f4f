"""The wheel release against a real pypiserver: publish, install back, idempotence, refusals."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

import pytest
import requests

from helperhub.core.errors import GitError, HubError, IntegrityError, VersionError
from helperhub.core.progress import Silent
from helperhub.lock.lockfile import load_lock
from helperhub.registry.client import IndexSettings, fetch_sha256, project_files
from helperhub.release.project import discover
from helperhub.release.publish import twine_upload
from helperhub.release.run import release
from helperhub.release.versions import parse_version, write_version
from helperhub.release.wheel import WheelRelease, release_wheel
from tests.conftest import Released, clean_env, commit_all, git, release_settings


def release_all(root: Path, index: IndexSettings, **overrides: object) -> dict[str, WheelRelease]:
    results = release(release_settings(root, index, **overrides), [], Silent())
    return {r.wheel.pin.name: r.wheel for r in results}


def test_release_writes_pins_matching_served_files(released: Released) -> None:
    lock = load_lock(released.root / "pins.json")
    assert sorted(lock.packages) == ["tabular-helpers", "vision-helpers"]
    for name, pin in lock.packages.items():
        assert not released.results[name].noop
        assert pin.index_url == released.index.settings.simple_url
        assert fetch_sha256(released.index.settings, pin.url) == pin.sha256
        served = project_files(released.index.settings, name)
        assert served[pin.wheel].sha256 == pin.sha256
        assert served[pin.sdist].sha256 == pin.sdist_sha256
        assert pin.commit == git(released.root, "rev-parse", "HEAD")
        assert f"kfp=={pin.kfp_version}" in pin.requires
        assert git(released.root, "tag", "--list", f"{name}-v{pin.version}")


def test_closure_is_mirrored(released: Released) -> None:
    pin = load_lock(released.root / "pins.json").require("vision-helpers", fix="-")
    for dep in ("numpy", "pandas", "kfp", "protobuf"):
        assert project_files(released.index.settings, dep), f"{dep} not mirrored"
    assert any(r.startswith("pandas") for r in pin.requires)  # through tabular-helpers


def test_installs_from_the_private_index_alone(released: Released, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    settings = released.index.settings
    subprocess.run(
        [py, "-m", "pip", "install", "--quiet", "--index-url", settings.simple_url,
         "--trusted-host", settings.host, "vision-helpers==1.0.0"],
        check=True, env=clean_env(), capture_output=True,
    )
    out = subprocess.run(
        [py, "-c", "import tabular_helpers, vision_helpers; "
         "print(tabular_helpers.__version__, vision_helpers.__version__)"],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    assert out == ["1.0.0", "1.0.0"]


def test_rerelease_is_a_noop(released: Released, released_copy: Path) -> None:
    before = sorted(p.name for p in released.index.packages.iterdir())
    again = release_all(released_copy, released.index.settings)
    assert all(r.noop and not r.uploaded for r in again.values())
    assert sorted(p.name for p in released.index.packages.iterdir()) == before


def test_same_version_with_other_bytes_is_refused(released: Released, released_copy: Path) -> None:
    root = released_copy
    init = root / "helpers/tabular-helpers/src/tabular_helpers/__init__.py"
    init.write_text(init.read_text() + "\n# changed without a version bump\n")
    commit_all(root, "change without bump")
    before = {p.name: p.stat().st_mtime_ns for p in released.index.packages.iterdir()}
    projects = discover(root)
    with pytest.raises(IntegrityError, match=r"sha256 [0-9a-f]{64}.* has [0-9a-f]{64}"):
        release_wheel(release_settings(root, released.index.settings, run_tests=False),
                      projects["tabular-helpers"], projects, Silent())
    after = {p.name: p.stat().st_mtime_ns for p in released.index.packages.iterdir()}
    assert after == before


def test_lower_version_is_refused(released: Released, released_copy: Path) -> None:
    root = released_copy
    projects = discover(root)
    project = projects["tabular-helpers"]
    write_version(project.version_source, parse_version("0.9.0"))
    commit_all(root, "go back")
    with pytest.raises(VersionError, match=r"lower than 1.0.0"):
        release_wheel(release_settings(root, released.index.settings), project, projects, Silent())


def test_dirty_tree_is_refused_but_not_for_the_lock(released: Released, released_copy: Path) -> None:
    root = released_copy
    projects = discover(root)
    settings = release_settings(root, released.index.settings)
    (root / "pins.json").write_text((root / "pins.json").read_text() + " ")
    assert release_wheel(settings, projects["tabular-helpers"], projects, Silent()).noop
    (root / "helpers/tabular-helpers/README.md").write_text("edited\n")
    with pytest.raises(GitError, match=r"uncommitted changes.*--allow-dirty"):
        release_wheel(settings, projects["tabular-helpers"], projects, Silent())


@pytest.mark.parametrize(
    ("user", "password"), [(None, None), ("ci", "wrong"), ("nobody", "s3cret")]
)
def test_upload_without_valid_credentials_stores_nothing(
    released: Released, tmp_path: Path, user: str | None, password: str | None
) -> None:
    pin = load_lock(released.root / "pins.json").require("tabular-helpers", fix="-")
    renamed = tmp_path / pin.wheel.replace("1.0.0", "1.0.1")
    renamed.write_bytes(requests.get(pin.url, timeout=10).content)
    settings = IndexSettings(released.index.settings.base, user, password)
    with pytest.raises(HubError, match=r"credentials|403|401|Forbidden|Unauthorized"):
        twine_upload(settings, [renamed])
    assert not (released.index.packages / renamed.name).exists()


def test_reads_are_anonymous(released: Released) -> None:
    resp = requests.get(f"{released.index.settings.simple_url}tabular-helpers/", timeout=5)
    assert resp.status_code == 200 and "tabular_helpers-1.0.0" in resp.text


def test_cli_reports_bad_input_in_one_line(released: Released, released_copy: Path) -> None:
    env = {**clean_env(), "HUB_INDEX_URL": released.index.settings.base}
    for args, expected in [
        (["release", "no-such-helper"], "no helper package 'no-such-helper'"),
        (["bump", "tabular-helpers", "1.0.x"], "not a valid PEP 440 version"),
        (["bump", "tabular-helpers", "0.1"], "not higher than the current"),
    ]:
        cmd = [sys.executable, "-m", "helperhub", args[0], "--root", str(released_copy)]
        proc = subprocess.run([*cmd, *args[1:]], capture_output=True, text=True, env=env)
        assert proc.returncode == 1, proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert git(released_copy, "status", "--porcelain", "--", "helpers") == ""
