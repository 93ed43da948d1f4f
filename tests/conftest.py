"""Fixtures that start real servers on free loopback ports and make throwaway repositories."""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kfp
import pytest

from helperhub.core import defaults
from helperhub.core.errors import EngineError
from helperhub.images.engine import docker_client
from helperhub.images.oci import registry_answers
from helperhub.registry.client import IndexSettings, writable
from helperhub.release.wheel import ReleaseSettings, WheelRelease
from helperhub.stack.embedded import add_user
from helperhub.stack.oci_registry import registry_config

REPO = Path(__file__).resolve().parents[1]
# a lock of the one target "default", as a repository without declared targets has it (test data)
DEFAULT_LOCK = REPO / "tests" / "data" / "pins-default.json"
FIXED_DATE = "2026-01-01T00:00:00+00:00"

# The test folders are imported now, before any test imports the registry server: its bottle puts
# an importer without `find_spec` on sys.meta_path, on which pytest's importlib mode would stop
# when it imports a folder's package later in the collection.
for _folder in sorted(Path(__file__).parent.glob("*/__init__.py")):
    importlib.import_module(f"{__name__.rpartition('.')[0]}.{_folder.parent.name}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningIndex:
    settings: IndexSettings
    packages: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_index(tmp: Path, *, user: str = "ci", password: str = "s3cret", port: int | None = None) -> RunningIndex:
    """pypiserver (through the project's `registry serve`) in its own process."""
    packages, htpasswd = tmp / "packages", tmp / "htpasswd"
    packages.mkdir(parents=True, exist_ok=True)
    add_user(htpasswd, user, password)
    port = port or free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "helperhub", "registry", "serve", "--port", str(port),
         "--packages", str(packages), "--htpasswd", str(htpasswd)],
        stdout=subprocess.DEVNULL, stderr=(tmp / "server.log").open("wb"),
    )
    settings = IndexSettings(f"http://127.0.0.1:{port}", user, password)
    deadline = time.monotonic() + 20
    while not writable(settings):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((tmp / "server.log").read_text())
        time.sleep(0.1)
    return RunningIndex(settings, packages, proc)


@pytest.fixture(scope="session")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIndex]:
    """One registry shared by the tests that only add to it."""
    running = start_index(tmp_path_factory.mktemp("index"))
    yield running
    running.stop()


@pytest.fixture
def fresh_index(tmp_path: Path) -> Iterator[RunningIndex]:
    running = start_index(tmp_path / "index")
    yield running
    running.stop()


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_repo(dest: Path) -> Path:
    """A git repository holding a copy of the helper packages, committed."""
    shutil.copytree(
        REPO / "helpers", dest / "helpers",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache", "build", "dist"),
    )
    (dest / ".gitignore").write_text(".hub/\n.pins.json.lock\n")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    # a fixed commit time: every copy builds the same wheel bytes, as releases are reproducible
    subprocess.run(
        ["git", "commit", "-qm", "helpers"], cwd=dest, check=True,
        env={**os.environ, "GIT_AUTHOR_DATE": FIXED_DATE, "GIT_COMMITTER_DATE": FIXED_DATE},
    )
    return dest


def commit_all(root: Path, message: str) -> None:
    git(root, "commit", "-qam", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def release_settings(root: Path, index: IndexSettings, **overrides: object) -> ReleaseSettings:
    values: dict[str, object] = {
        "root": root, "index": index, "cache": defaults.cache_dir(), "kfp_version": kfp.__version__,
    }
    values.update(overrides)
    return ReleaseSettings(**values)  # type: ignore[arg-type]


def clean_env() -> dict[str, str]:
    from helperhub.core.tools import clean_pip_env

    return clean_pip_env()


@pytest.fixture(scope="session", autouse=True)
def _git_identity() -> None:
    os.environ.setdefault("GIT_AUTHOR_NAME", "helperhub-tests")
    os.environ.setdefault("GIT_AUTHOR_EMAIL", "tests@example.invalid")
    os.environ.setdefault("GIT_COMMITTER_NAME", "helperhub-tests")
    os.environ.setdefault("GIT_COMMITTER_EMAIL", "tests@example.invalid")


def missing(reason: str, fix: str = "run `make engine` first") -> None:
    """A tool the test needs is missing: skipped on a workstation, a failure in CI (CI=true), where
    every test must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: {fix})")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kubectl() -> str:
    """kubectl, which renders the kustomize overlays offline (no cluster)."""
    found = shutil.which("kubectl")
    if found is None:
        missing("kubectl is not installed", "install kubectl; it renders the manifests offline")
    assert found is not None
    return found


# a test that takes one of these waits for a release of both helpers (minutes): never the fast lane
SLOW_FIXTURES = frozenset({"released", "released_copy", "released_all", "released_targets"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def client() -> Any:
    try:
        return docker_client()
    except EngineError as exc:
        missing(str(exc))


def start_oci(tmp: Path) -> Iterator[str]:
    addr = f"127.0.0.1:{free_port()}"
    config = tmp / "config.yml"
    config.write_text(registry_config(addr, tmp / "storage"))
    try:
        proc = subprocess.Popen(["docker-registry", "serve", str(config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        missing("docker-registry is not installed")
    deadline = time.monotonic() + 15
    while not registry_answers(addr):
        assert time.monotonic() < deadline and proc.poll() is None, "OCI registry did not start"
        time.sleep(0.1)
    yield addr
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def readable_tmp() -> Iterator[Path]:
    """A folder nginx's workers (nobody) can read, unlike pytest's private tmp folders."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="hub-front-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def oci(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from start_oci(tmp_path_factory.mktemp("oci"))


@pytest.fixture(scope="session")
def base_image() -> str:
    return os.environ.get("BASE_IMAGE", defaults.BASE_IMAGE)


# -- one release of both helpers per session, shared by every test that only reads it ------------

@dataclass(frozen=True)
class Released:
    root: Path
    index: RunningIndex
    results: dict[str, WheelRelease]


@pytest.fixture(scope="session")
def released(tmp_path_factory: pytest.TempPathFactory, index: RunningIndex) -> Released:
    """Both helpers released once into the session's index: wheels, sdists, closures and uv, the
    lock and the tags in the repository. Read it only; a test that changes the repository takes
    `released_copy`, one that changes the index starts its own (`fresh_index`)."""
    from helperhub.core.progress import Silent
    from helperhub.release.run import release

    root = make_repo(tmp_path_factory.mktemp("released") / "repo")
    results = release(release_settings(root, index.settings), [], Silent())
    return Released(root, index, {r.wheel.pin.name: r.wheel for r in results})


def copy_repo(root: Path, dest: Path) -> Path:
    """A copy of a released repository (its history, tags and lock) that a test may change."""
    shutil.copytree(root, dest, symlinks=True)
    return dest


@pytest.fixture
def released_copy(released: Released, tmp_path: Path) -> Path:
    return copy_repo(released.root, tmp_path / "repo")


@dataclass(frozen=True)
class ReleasedRepo:
    root: Path
    index: RunningIndex
    oci: str
    base_image: str


@pytest.fixture(scope="session")
def released_all(
    released: Released, tmp_path_factory: pytest.TempPathFactory, client: Any, oci: str, base_image: str
) -> ReleasedRepo:
    """The session's release with both helpers' images built, pushed to the session's OCI registry
    and pinned, in a copy of its repository (what `release` with images leaves). Read it only."""
    from helperhub.core.progress import Silent
    from helperhub.images.stage import ImageSettings
    from helperhub.release.project import discover, release_order
    from helperhub.release.run import ImageStage, bake_images

    root = copy_repo(released.root, tmp_path_factory.mktemp("all") / "repo")
    stage = ImageStage(ImageSettings(oci, base_image, released.index.settings), client)
    bake_images(stage, root / "pins.json", release_order(discover(root), []), Silent())
    return ReleasedRepo(root, released.index, oci, base_image)


def targets_toml(bases: str) -> str:
    """This repository's targets, on the bases of the engine's OCI registry."""
    return (
        f'[tool.helperhub.targets.py311]\nbase-image = "{bases}/python:3.11-slim"\n'
        'platforms = ["linux/amd64", "linux/arm64"]\n\n'
        f'[tool.helperhub.targets.py313]\nbase-image = "{bases}/python:3.13-slim"\nplatforms = ["linux/amd64"]\n'
    )


@pytest.fixture(scope="session")
def targets_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIndex]:
    """The index of the release for two targets: apart from the session's, whose release of the
    same versions records other targets (a release record names what its last release made)."""
    running = start_index(tmp_path_factory.mktemp("targets-index"))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def released_targets(tmp_path_factory: pytest.TempPathFactory, targets_index: RunningIndex, oci: str,
                     client: Any, base_image: str) -> Path:
    """Both helpers, their closures and images for py311 (amd64, arm64) and py313 (amd64), released
    into ``targets_index`` as this repository declares its targets. Read it only."""
    index = targets_index
    from helperhub.core.progress import Silent
    from helperhub.release.run import ImageStage, open_image_stage, release, release_targets

    root = make_repo(tmp_path_factory.mktemp("targets") / "repo")
    (root / "pyproject.toml").write_text(targets_toml(os.environ.get("HUB_OCI_REGISTRY", defaults.OCI_REGISTRY)))
    git(root, "add", "pyproject.toml")
    commit_all(root, "targets")
    targets = release_targets(root, oci, base_image, defaults.cache_dir())
    stage = open_image_stage(root / ".hub", index.settings, oci, base_image, required=True, report=Silent(),
                             client=client)
    assert isinstance(stage, ImageStage)
    release(release_settings(root, index.settings, targets=targets), [], Silent(), stage)
    return root


# -- the side-by-side table (docs/hardening.md), generated from the test run ---------------------
SIDE_BY_SIDE: dict[str, dict[str, str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if "sidebyside" not in report.keywords or (report.when != "call" and not report.skipped):
        return
    name, _, params = report.nodeid.split("::")[-1].partition("[")
    parts = params.rstrip("]").split("-")
    kind = next((p for p in parts if p in ("stock", "helperhub")), "?")
    case = "-".join(p for p in parts if p != kind)
    row = f"{name.removeprefix('test_').replace('_', ' ')}" + (f" ({case})" if case else "")
    if hasattr(report, "wasxfail"):
        outcome = "fails (expected, checked)"
    elif report.passed:
        outcome = "passes"
    elif report.skipped:
        outcome = "skipped"
    else:
        outcome = "FAILS"
    SIDE_BY_SIDE.setdefault(row, {})[kind] = outcome


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = os.environ.get("HUB_HARDENING_TABLE")
    if not target or not SIDE_BY_SIDE:
        return
    lines = [
        "# Registry hardening: stock pypiserver vs helperhub's registry",
        "",
        "Generated by `make hardening-table` from one run of `tests/registry/test_hardening.py`: the same test",
        "functions against a real stock pypiserver 2.4.2 process and the project's registry.",
        "A stock failure is an expected failure with `strict=True`: the suite checks that it still fails.",
        "",
        "| test | stock pypiserver | helperhub registry |",
        "|---|---|---|",
    ]
    for row in sorted(SIDE_BY_SIDE):
        result = SIDE_BY_SIDE[row]
        lines.append(f"| {row} | {result.get('stock', '-')} | {result.get('helperhub', '-')} |")
    from helperhub.core.fs import atomic_write_text

    atomic_write_text(Path(target), "\n".join(lines) + "\n")
