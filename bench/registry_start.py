"""P5 registry start: how soon a registry answers on a large package folder, and how soon it has
caught up, on the first start on a folder it has never seen and on a restart (its records on
disk), side by side with stock pypiserver on a copy of the same folder; and the registry's
memory once caught up. Two shapes of 20,000 files: a project per file, and 200 projects of 100.

A start is timed from the process's start to its first right answer to ``GET /simple/<p>/``
(200, every file of the project linked), then until ``/health`` stops reporting ``catching_up``
(a ``/health`` that is not JSON counts as caught up: a server that binds only once it has caught
up). Loopback only; a start that does not answer within START_TIMEOUT is reported as failed."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import subprocess
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .servers import free_port, registry_cmd, stock_cmd

START_TIMEOUT = 600.0  # seconds a start may take before it is reported as failed
POLL = 0.02  # seconds between polls
FILES = 20_000
DEEP_PROJECTS = 200  # the second shape: FILES files in this many projects
REGISTRY, STOCK = "helperhub registry", "stock pypiserver"
FIRST, RESTART = "first start", "restart"


@dataclass(frozen=True)
class Shape:
    name: str
    projects: int
    files: int

    @property
    def per_project(self) -> int:
        return self.files // self.projects

    def project(self, index: int) -> str:
        return f"p{index:05d}"

    def probe(self) -> tuple[str, list[str]]:
        """The project whose page is asked for (one in the middle) and its files."""
        name = self.project(self.projects // 2)
        return name, [wheel_name(name, version(v)) for v in range(self.per_project)]


@dataclass(frozen=True)
class StartRow:
    shape: str
    files: int
    projects: int
    server: str
    start: str  # FIRST or RESTART
    first_answer_s: float | None  # None: no right answer within START_TIMEOUT
    caught_up_s: float | None  # None: not caught up within START_TIMEOUT, or stock (nothing to catch up)
    rss_mb: float
    health_json: bool  # /health answered the JSON of reads, writes and catching_up

    @property
    def failed(self) -> bool:
        return self.first_answer_s is None or (self.server == REGISTRY and self.caught_up_s is None)

    @property
    def first_or_bound(self) -> float:
        """The first answer's time; for a failed start the bound it exceeded (a ratio's lower bound)."""
        return START_TIMEOUT if self.first_answer_s is None else self.first_answer_s


def version(index: int) -> str:
    return f"1.0.{index}"


def wheel_name(project: str, ver: str) -> str:
    return f"{project}-{ver}-py3-none-any.whl"


def wheel_bytes(project: str, ver: str) -> bytes:
    """A tiny valid wheel whose METADATA names its own project and version."""
    dist = f"{project}-{ver}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as whl:
        whl.writestr(f"{project}/__init__.py", "")
        whl.writestr(f"{dist}.dist-info/METADATA", f"Metadata-Version: 2.1\nName: {project}\nVersion: {ver}\n")
        whl.writestr(f"{dist}.dist-info/WHEEL",
                     "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{dist}.dist-info/RECORD", "")
    return buf.getvalue()


def make_folder(dest: Path, shape: Shape) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for p in range(shape.projects):
        project = shape.project(p)
        for v in range(shape.per_project):
            (dest / wheel_name(project, version(v))).write_bytes(wheel_bytes(project, version(v)))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _get(url: str, deadline: float) -> requests.Response | None:
    try:
        return requests.get(url, timeout=max(min(deadline - time.monotonic(), 120.0), 1.0))
    except requests.RequestException:
        return None


def caught_up(resp: requests.Response | None) -> tuple[bool, bool]:
    """(whether the server has caught up, whether /health answered its JSON) from a /health answer."""
    if resp is None or resp.status_code != 200:
        return False, False
    try:
        health = resp.json()
    except ValueError:
        return True, False  # a plain /health: the server bound once it had caught up
    if not isinstance(health, dict) or "reads" not in health:
        return True, False
    return "catching_up" not in health, True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def time_start(cmd: list[str], base: str, shape: Shape, server: str, start: str, log: Path) -> StartRow:
    """Start ``cmd``, time its first right page and its catch-up, read its memory, stop it."""
    project, files = shape.probe()
    page, health = f"{base}/simple/{project}/", f"{base}/health"
    with log.open("ab") as out:
        began = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=out, start_new_session=True)
    deadline = began + START_TIMEOUT
    first = done = None
    saw_json = False
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if first is None:
                resp = _get(page, deadline)
                if resp is not None and resp.status_code == 200 and all(f in resp.text for f in files):
                    first = time.monotonic() - began
            if done is None and server == REGISTRY:
                up, is_json = caught_up(_get(health, deadline))
                saw_json |= is_json
                if up:
                    done = time.monotonic() - began
            if first is not None and (done is not None or server != REGISTRY):
                break
            time.sleep(POLL)
        memory = rss_mb(proc.pid) if proc.poll() is None else float("nan")
    finally:
        _stop(proc)
    return StartRow(shape.name, shape.files, shape.projects, server, start, first, done, memory, saw_json)


def measure_shape(work: Path, shape: Shape, log: Any = print) -> list[StartRow]:
    """Both servers, each on its own copy of one freshly made folder: a first start, then a restart."""
    pristine = work / "pristine"
    made = time.monotonic()
    make_folder(pristine, shape)
    log(f"P5 {shape.name}: {shape.files} files in {shape.projects} projects made in {time.monotonic() - made:.1f} s")
    rows: list[StartRow] = []
    for server in (STOCK, REGISTRY):
        folder = work / server.replace(" ", "-")
        shutil.copytree(pristine, folder)
        for start in (FIRST, RESTART):
            port = free_port()
            cmd = registry_cmd(folder, port) if server == REGISTRY else stock_cmd(folder, port)
            row = time_start(cmd, f"http://127.0.0.1:{port}", shape, server, start, work / f"{server}.log")
            rows.append(row)
            log(f"P5 {shape.name} {server:20s} {start:11s} first answer {seconds(row.first_answer_s)}"
                + (f", caught up {seconds(row.caught_up_s)}" if server == REGISTRY else "")
                + f", RSS {row.rss_mb:.0f} MB")
        shutil.rmtree(folder, ignore_errors=True)
    shutil.rmtree(pristine, ignore_errors=True)
    return rows


def seconds(value: float | None) -> str:
    return f"failed (> {START_TIMEOUT:.0f} s)" if value is None else f"{value:.2f} s"


def shapes(files: int = FILES) -> list[Shape]:
    return [Shape("a project per file", files, files), Shape(f"{DEEP_PROJECTS} projects", DEEP_PROJECTS, files)]


def measure_registry_start(work: Path, files: int = FILES, log: Any = print) -> list[StartRow]:
    rows: list[StartRow] = []
    for i, shape in enumerate(shapes(files)):
        rows += measure_shape(work / f"shape{i}", shape, log)
    return rows


def start_keys(rows: list[StartRow]) -> dict[str, float]:
    """The ratio keys of P5's registry start: the worse shape of each."""
    by = {(r.shape, r.server, r.start): r for r in rows}
    names = sorted({r.shape for r in rows})

    def worst(start: str) -> float:
        return max(by[(s, REGISTRY, start)].first_or_bound / by[(s, STOCK, start)].first_or_bound for s in names)

    ours = [r for r in rows if r.server == REGISTRY]
    return {
        "registry_first_start_vs_stock_ratio": worst(FIRST),
        "registry_restart_vs_stock_ratio": worst(RESTART),
        "registry_catch_up_reported": float(all(r.health_json for r in ours)),
    }


def start_figures(rows: list[StartRow]) -> dict[str, float]:
    """The registry's memory at a project per file, once caught up (the first start's and the restart's)."""
    flat = [r for r in rows if r.server == REGISTRY and r.projects == r.files]
    return {f"registry_rss_mb_{r.start.replace(' ', '_')}": round(r.rss_mb, 1) for r in flat}
