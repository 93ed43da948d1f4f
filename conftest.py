"""Hooks for every test the suite collects: the project's tests and each helper package's own."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Under CI=true a skip is a failure: a tool missing in CI (engine, kubectl, nginx, a browser,
    uv...) would otherwise pass as a silently untested feature. Expected failures stay what they
    are; a test that may skip in CI says so with `@pytest.mark.allow_skip`."""
    report: pytest.TestReport = yield
    if (os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail")
            and item.get_closest_marker("allow_skip") is None):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every test must run: {reason}"
    return report
