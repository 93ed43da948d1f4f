"""Run the PyPA tools (pytest, build, twine, pip) of the project's own interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from helperhub.core.errors import HubError

SECRET_NAMES = frozenset({"HUB_INDEX_PASSWORD", "HUB_INDEX_USER", "HUB_NEW_PASSWORD"})
SECRET_SUFFIXES = ("_PASSWORD", "_PASSWORD_FILE", "_TOKEN")
SECRET_PREFIXES = ("TWINE_",)


def is_secret(name: str) -> bool:
    """Whether an environment variable holds (or points at) a credential."""
    upper = name.upper()
    return upper in SECRET_NAMES or upper.endswith(SECRET_SUFFIXES) or upper.startswith(SECRET_PREFIXES)


def scrubbed_env(extra: Mapping[str, str] | None = None, *, keep_pip: bool = False) -> dict[str, str]:
    """This process's environment without the release's credentials (and without PIP_*, unless
    ``keep_pip``): a helper's tests and build backends are code the release runs, and must not
    be able to read or leak the upload password. ``extra`` is added after scrubbing."""
    env = {
        k: v for k, v in os.environ.items()
        if not is_secret(k) and (keep_pip or not k.upper().startswith("PIP_"))
    }
    env.update(extra or {})
    return env


def clean_pip_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A scrubbed environment in which pip reads no config file and no PIP_* variable of the
    machine, so that an index URL given on the command line is the only index it uses."""
    env = scrubbed_env()
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra or {})
    return env


def run_tool(
    args: Sequence[str],
    *,
    error: type[HubError],
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run ``python -m <tool>``; on failure raise ``error`` naming the last meaningful line."""
    proc = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=cwd, env=dict(env) if env is not None else None,
        capture_output=True, text=True,
    )
    if proc.returncode != 0:
        raise error(f"{what} failed: {failure_line(proc.stdout, proc.stderr, proc.returncode)}")
    return proc.stdout


def failure_line(stdout: str, stderr: str, code: int) -> str:
    """The last meaningful line a failed tool printed (warnings and notices aside)."""
    lines = [ln.strip() for ln in (stdout + "\n" + stderr).splitlines()]
    meaningful = [ln for ln in lines if ln and not ln.startswith(("WARNING", "[notice]"))]
    return meaningful[-1] if meaningful else f"exit code {code}"
