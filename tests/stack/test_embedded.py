"""The embedded registry, started and stopped as `registry up|down` do."""

from __future__ import annotations

from pathlib import Path

import pytest

from helperhub.stack.embedded import EmbeddedRegistry, start, stop
from tests.conftest import free_port


@pytest.mark.slow
def test_embedded_registry_starts_and_stops(tmp_path: Path) -> None:
    reg = EmbeddedRegistry(state=tmp_path / ".hub", port=free_port())
    settings = start(reg)
    assert settings.username == "release" and (reg.credentials.stat().st_mode & 0o777) == 0o600
    assert start(reg) == settings  # already running: same registry, same credentials
    assert stop(reg) and not stop(reg)

