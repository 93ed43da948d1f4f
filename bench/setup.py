"""What the release, step-start and image-size benchmarks run against: a throwaway checkout of
the helpers, the project's registry and a reference OCI registry, all on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from helperhub.registry.client import IndexSettings
from helperhub.stack.embedded import add_user
from helperhub.stack.oci_registry import registry_config

from .servers import free_port, process

REPO = Path(__file__).resolve().parents[1]
USER, PASSWORD = "bench", "bench-password"


@dataclass(frozen=True)
class Stack:
    root: Path  # a git checkout with helpers/
    index: IndexSettings
    packages: Path
    oci: str
    base_image: str


def git(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def git_env() -> dict[str, str]:
    """A committer identity for the throwaway checkout, whatever the machine's git config says."""
    return {**os.environ, "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
            "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"}


def make_checkout(dest: Path) -> Path:
    shutil.copytree(REPO / "helpers", dest / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".mypy_cache", "build", "dist"))
    (dest / ".gitignore").write_text(".hub/\n.pins.json.lock\n")
    env = git_env()
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-qm", "helpers", env=env)
    return dest


def commit_all(root: Path, message: str) -> None:
    env = git_env()
    git(root, "commit", "-qam", message, env=env)


@contextmanager
def stack(work: Path, base_image: str) -> Iterator[Stack]:
    import sys

    root = make_checkout(work / "repo")
    packages, htpasswd = work / "packages", work / "htpasswd"
    packages.mkdir(parents=True)
    add_user(htpasswd, USER, PASSWORD)
    port, oci_port = free_port(), free_port()
    oci = f"127.0.0.1:{oci_port}"
    (work / "oci.yml").write_text(registry_config(oci, work / "oci"))
    with process([sys.executable, "-m", "helperhub.registry", "--port", str(port), "--packages", str(packages),
                  "--htpasswd", str(htpasswd)], f"http://127.0.0.1:{port}/health", work / "registry.log"), \
            process(["docker-registry", "serve", str(work / "oci.yml")], f"http://{oci}/v2/", work / "oci.log"):
        yield Stack(root, IndexSettings(f"http://127.0.0.1:{port}", USER, PASSWORD), packages, oci, base_image)
