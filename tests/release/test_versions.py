"""Versions, the release order of the helpers and the requirements their closure is resolved from."""

from __future__ import annotations

import pytest
from packaging.version import Version

from helperhub.core.errors import ConfigError, VersionError
from helperhub.release.mirror import closure_requirements
from helperhub.release.project import discover, release_order
from helperhub.release.versions import next_version, parse_version
from tests.conftest import REPO


@pytest.mark.parametrize(("current", "how", "expected"), [
    ("1.2.3", "patch", "1.2.4"), ("1.2.3", "minor", "1.3.0"), ("1.2.3", "major", "2.0.0"),
    ("1.2.3", "2.0.0rc1", "2.0.0rc1"), ("1.3.0rc1", "patch", "1.3.0"),
])
def test_next_version(current: str, how: str, expected: str) -> None:
    assert next_version(Version(current), how) == Version(expected)


def test_versions_are_pep440_and_go_forward() -> None:
    with pytest.raises(VersionError, match="not a valid PEP 440"):
        parse_version("1.0.x")
    with pytest.raises(VersionError, match="not higher"):
        next_version(Version("1.2.0"), "1.1.9")


def test_release_order_puts_dependencies_first() -> None:
    projects = discover(REPO)
    assert [p.name for p in release_order(projects, [])] == ["tabular-helpers", "vision-helpers"]
    assert [p.name for p in release_order(projects, ["vision-helpers"])] == ["vision-helpers"]
    with pytest.raises(ConfigError, match="no helper package 'nope'"):
        release_order(projects, ["nope"])


def test_closure_follows_local_helpers_and_adds_kfp() -> None:
    projects = discover(REPO)
    reqs = closure_requirements(projects["vision-helpers"], projects, "2.17.3")
    assert "kfp==2.17.3" in reqs
    assert any(r.startswith("pandas") for r in reqs) and any(r.startswith("scikit-learn") for r in reqs)
    assert not any(r.startswith("tabular-helpers") for r in reqs)

