"""`python -m bench`: P1-P4 measured side by side in one run; prints the table and writes
docs/benchmarks.{json,md,png}. Loopback only; bounded by the repeat counts below."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .reads import measure_reads
from .release_time import measure_image_size, measure_release
from .report import ratios, table, write_docs
from .setup import REPO, stack
from .step_start import measure_step_start

console = Console(highlight=False)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="runs per measure; the median is kept")
    parser.add_argument("--seconds", type=int, default=5, help="duration of each load run (P3)")
    parser.add_argument("--base-image", default=os.environ.get("BASE_IMAGE", "python:3.11-slim"))
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="helperhub-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers (an unprivileged user) read the trees below it
        reads = measure_reads(work / "reads", args.seconds, args.repeats, console.print)
        with stack(work / "stack", args.base_image) as st:
            rel = measure_release(st, console.print)
            size = measure_image_size(st, console.print)
            step = measure_step_start(st, work / "runs", args.repeats, console.print)
    keys = ratios(step, rel, reads, size)
    out = Table("measure", "value", "goal", "", title="helperhub benchmarks (medians)")
    for row in table(keys):
        out.add_row(*row)
    console.print(out)
    args.out.mkdir(parents=True, exist_ok=True)
    write_docs(args.out, keys, {**step, **rel, **size, "bench_seconds": round(time.monotonic() - started)}, reads)
    console.print(f"wrote {args.out / 'benchmarks.json'}, benchmarks.md and benchmarks.png "
                  f"in {time.monotonic() - started:.0f} s")


main()
