"""P3: registry reads at scale — stock pypiserver, the project's registry (alone and behind its
nginx front) and nginx serving the same tree statically, 64 concurrent clients each."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from .servers import free_port, make_tree, nginx, process, registry_cmd, stock_cmd
from .wrk import Load, run_wrk

JSON = "application/vnd.pypi.simple.v1+json"  # PEP 691, what uv asks for first (pip too)
TARGETS = {"page": {}, "json page": {"Accept": JSON}, "download": {}}  # target -> request headers
STOCK = "stock pypiserver"  # speaks HTML only: no JSON row


@dataclass(frozen=True)
class ReadRow:
    server: str
    target: str  # "page", "json page" or "download"
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def _median(loads: list[Load]) -> Load:
    return Load(
        statistics.median(x.rps for x in loads), statistics.median(x.p50_ms for x in loads),
        statistics.median(x.p99_ms for x in loads), sum(x.errors for x in loads),
    )


def check_answer(url: str, expect: str | None, size: int | None, headers: dict[str, str] | None = None) -> None:
    """Load only a server that answers right: 200, the listed file, the whole file, the format asked for."""
    resp = requests.get(url, timeout=60, headers=headers)
    wrong_type = headers and headers.get("Accept") == JSON and resp.headers.get("Content-Type") != JSON
    if (resp.status_code != 200 or (expect and expect not in resp.text) or (size and len(resp.content) != size)
            or wrong_type):
        raise RuntimeError(f"{url} answered {resp.status_code} ({len(resp.content)} bytes, "
                           f"{resp.headers.get('Content-Type')}): not measurable")


def drain(base: str, timeout: float = 300) -> None:
    """Wait until a server has worked off the requests a load run left queued."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
    raise RuntimeError(f"{base} did not drain its backlog within {timeout} s")


def measure_reads(work: Path, seconds: int, repeats: int, log: object = print) -> list[ReadRow]:
    packages = work / "packages"
    project, wheel = make_tree(packages)
    work.chmod(0o755)
    paths = {"page": f"/simple/{project}/", "json page": f"/simple/{project}/", "download": f"/packages/{wheel}"}
    rows: list[ReadRow] = []
    reg_port, stock_port = free_port(), free_port()
    with process(registry_cmd(packages, reg_port), f"http://127.0.0.1:{reg_port}/health",
                 work / "registry.log") as registry, \
            process(stock_cmd(packages, stock_port), f"http://127.0.0.1:{stock_port}/health",
                    work / "stock.log") as stock, \
            nginx(packages, work / "front", app=f"127.0.0.1:{reg_port}") as front, \
            nginx(packages, work / "static", app=None) as static:
        servers = {STOCK: stock, "helperhub registry": registry,
                   "helperhub registry + nginx front": front, "nginx static": static}
        size = (packages / wheel).stat().st_size
        for name, base in servers.items():  # every server answers right before any is loaded
            for target, path in paths.items():
                if not (name == STOCK and target == "json page"):
                    check_answer(base + path, expect=None if target == "download" else wheel,
                                 size=size if target == "download" else None, headers=TARGETS[target])
        for name, base in servers.items():
            # stock answers a few requests a second: one run, then let its backlog drain
            runs = 1 if name == STOCK else repeats
            for target, path in paths.items():
                if name == STOCK and target == "json page":
                    continue
                loads = [run_wrk(base + path, seconds=seconds, headers=TARGETS[target]) for _ in range(runs)]
                if runs == 1:
                    drain(base)
                med = _median(loads)
                rows.append(ReadRow(name, target, med.rps, med.p50_ms, med.p99_ms, med.errors))
                log(f"P3 {name:34s} {target:8s} {med.rps:10.0f} req/s  p50 {med.p50_ms:7.2f} ms  "  # type: ignore[operator]
                    f"p99 {med.p99_ms:7.2f} ms")
    return rows
