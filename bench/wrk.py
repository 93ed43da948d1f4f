"""Drive wrk (a load generator on loopback) and parse its summary."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(match[1]) * UNITS[match[2]]


def parse_wrk(out: str) -> Load:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M)[1])  # type: ignore[index]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return Load(rps, p50, p99, errors + (int(non2xx[1]) if non2xx else 0))


def run_wrk(url: str, *, connections: int = 64, seconds: int = 5, threads: int = 2,
            headers: dict[str, str] | None = None) -> Load:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed; `make bench` installs it (apt-get install wrk)")
    sent = [arg for k, v in (headers or {}).items() for arg in ("-H", f"{k}: {v}")]
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s", "--latency", *sent, url],
        capture_output=True, text=True, check=True, timeout=seconds + 30,
    ).stdout
    return parse_wrk(out)
