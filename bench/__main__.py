"""`python -m bench`: P1-P5 (and P2b) measured side by side in one run; prints the table and writes
docs/benchmarks.{json,md,png}. Loopback only; bounded by the repeat counts below."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from helperhub.core import defaults

from .reads import measure_reads
from .release_time import measure_image_size, measure_release
from .report import ratios, table, write_docs
from .setup import REPO, stack
from .startup import measure_help
from .step_start import measure_step_start
from .targets_time import measure_targets

console = Console(highlight=False)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs per measure; the median is kept.")
@click.option("--seconds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Duration of each load run (P3).")
@click.option("--base-image", envvar="BASE_IMAGE", default=defaults.BASE_IMAGE, show_default=True,
              help="Base of the helper images. [env BASE_IMAGE]")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=REPO / "docs", show_default=True,
              help="Where benchmarks.{json,md,png} are written.")
def main(repeats: int, seconds: int, base_image: str, out: Path) -> None:
    """P1-P5 measured side by side in one run; prints the table and writes docs/benchmarks.*."""
    started = time.monotonic()
    start = measure_help(console.print)  # first, on a machine nothing of the bench loads yet
    with tempfile.TemporaryDirectory(prefix="helperhub-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers (an unprivileged user) read the trees below it
        reads = measure_reads(work / "reads", seconds, repeats, console.print)
        with stack(work / "stack", base_image) as st:
            rel = measure_release(st, console.print)
            size = measure_image_size(st, console.print)
            step = measure_step_start(st, work / "runs", repeats, console.print)
            rel.update(measure_targets(st, repeats, console.print))
    keys = ratios(step, rel, reads, size, start)
    shown = Table("measure", "value", "goal", "", title="helperhub benchmarks (medians)")
    for row in table(keys):
        shown.add_row(*row)
    console.print(shown)
    out.mkdir(parents=True, exist_ok=True)
    write_docs(out, keys, {**step, **rel, **size, **start, "bench_seconds": round(time.monotonic() - started)}, reads)
    console.print(f"wrote {out / 'benchmarks.json'}, benchmarks.md and benchmarks.png "
                  f"in {time.monotonic() - started:.0f} s")


main(prog_name="python -m bench")
