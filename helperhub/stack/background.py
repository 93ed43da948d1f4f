"""Start a local server as a background process that outlives the command, and wait until it
answers (the embedded pypiserver, the local OCI registry)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from helperhub.core.fs import atomic_write_text


def start_background(
    cmd: list[str], log: Path, pidfile: Path, answers: Callable[[], bool], timeout: float
) -> bool:
    """Start ``cmd`` detached (its output appended to ``log``, its pid in ``pidfile``); True once
    ``answers()`` holds, False if it exits or the time runs out first."""
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    atomic_write_text(pidfile, f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def running_pid(pidfile: Path) -> int | None:
    """The pid in ``pidfile`` if that process still runs."""
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def stop_background(pidfile: Path) -> bool:
    """Stop the process ``pidfile`` names (TERM, then KILL after 5 s); True if one was stopped."""
    pid = running_pid(pidfile)
    pidfile.unlink(missing_ok=True)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True
