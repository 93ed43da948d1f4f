"""The tool installs from the private index alone on every Python it supports, not only on the
release host's: a team on Python 3.13 runs `pip install helperhub[local]` in its own runtime."""

from __future__ import annotations

import os
from typing import Any

import pytest

from helperhub.core import defaults
from helperhub.core.progress import Silent
from helperhub.release.self_release import release_self
from tests.conftest import REPO, ReleasedRepo, release_settings


@pytest.mark.slow
@pytest.mark.docker
def test_the_tool_installs_on_python_313_from_the_private_index_alone(released_all: ReleasedRepo, client: Any) -> None:
    tool = release_self(release_settings(REPO, released_all.index.settings), Silent())
    assert tool is not None
    base = f"{os.environ.get('HUB_OCI_REGISTRY', defaults.OCI_REGISTRY)}/python:3.13-slim"
    script = (
        "set -e; python3 -m venv /tmp/v; "
        "/tmp/v/bin/pip install --isolated --quiet --no-cache-dir "
        f"--index-url {released_all.index.settings.simple_url} "
        "'helperhub[local]'; /tmp/v/bin/python -c 'import sys; print(sys.version_info[:2])'; "
        "/tmp/v/bin/helperhub --version"
    )
    out = client.containers.run(base, ["sh", "-c", script], network_mode="host", remove=True,
                                environment={"PIP_CONFIG_FILE": "/dev/null"}).decode()
    assert "(3, 13)" in out, out
    assert f"helperhub {tool.version}" in out, out
