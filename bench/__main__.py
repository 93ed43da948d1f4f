"""`python -m bench`: P1-P6 (and P2b) measured side by side in one run; prints the table and writes
docs/benchmarks.{json,md,png}. Loopback only; bounded by the repeat counts below."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from helperhub.core import defaults

from .env_time import measure_environments
from .reads import ReadRow, measure_reads
from .registry_start import FILES, StartRow, measure_registry_start, start_figures
from .release_time import measure_image_size, measure_release
from .report import ratios, start_table, table, write_docs
from .setup import REPO, stack
from .startup import measure_help
from .step_start import measure_step_start
from .targets_time import measure_targets

console = Console(highlight=False)
# help: P5 `helperhub --help`; reads: P3; stack: P1, P2, P2b, P4, P6 (one registry and OCI registry);
# registry-start: P5 registry start
PARTS = ("help", "reads", "stack", "registry-start")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True,
              help="Runs per measure; the median is kept.")
@click.option("--seconds", type=click.IntRange(min=1), default=5, show_default=True,
              help="Duration of each load run (P3).")
@click.option("--base-image", envvar="BASE_IMAGE", default=defaults.BASE_IMAGE, show_default=True,
              help="Base of the helper images. [env BASE_IMAGE]")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=REPO / "docs", show_default=True,
              help="Where benchmarks.{json,md,png} are written.")
@click.option("--part", "parts", multiple=True, type=click.Choice(PARTS),
              help="Measure only this part (repeatable); the table is printed and nothing is written "
              "unless every part is measured.")
@click.option("--start-files", envvar="HUB_BENCH_START_FILES", type=click.IntRange(min=200), default=FILES,
              show_default=True, help="Files in each folder of P5's registry start (a project per file, "
              "and 200 projects). [env HUB_BENCH_START_FILES]")
def main(repeats: int, seconds: int, base_image: str, out: Path, parts: tuple[str, ...], start_files: int) -> None:
    """P1-P5 measured side by side in one run; prints the table and writes docs/benchmarks.*."""
    started = time.monotonic()
    chosen = set(parts or PARTS)
    step = rel = size = start = envs = None
    reads: list[ReadRow] | None = None
    boot: list[StartRow] | None = None
    if "help" in chosen:
        start = measure_help(console.print)  # first, on a machine nothing of the bench loads yet
    with tempfile.TemporaryDirectory(prefix="helperhub-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx workers (an unprivileged user) read the trees below it
        if "reads" in chosen:
            reads = measure_reads(work / "reads", seconds, repeats, console.print)
        if "stack" in chosen:
            with stack(work / "stack", base_image) as st:
                rel = measure_release(st, console.print)
                size = measure_image_size(st, console.print)
                step = measure_step_start(st, work / "runs", repeats, console.print)
                envs = measure_environments(st, repeats, console.print)
                rel.update(measure_targets(st, repeats, console.print))
        if "registry-start" in chosen:
            boot = measure_registry_start(work / "registry-start", start_files, console.print)
    keys = ratios(step, rel, reads, size, start, boot, envs)
    shown = Table("measure", "value", "goal", "", title="helperhub benchmarks (medians)")
    for row in table(keys, measured_only=True):
        shown.add_row(*row)
    console.print(shown)
    if boot is not None:
        console.print("\n".join(start_table(boot)), soft_wrap=True)
    if chosen != set(PARTS):
        console.print(f"measured {', '.join(sorted(chosen))} only: nothing written")
        return
    assert step is not None and rel is not None and size is not None and start is not None and envs is not None
    assert reads is not None and boot is not None
    figures = {**step, **rel, **size, **start, **envs, **start_figures(boot),
               "bench_seconds": round(time.monotonic() - started)}
    out.mkdir(parents=True, exist_ok=True)
    write_docs(out, keys, figures, reads, boot)
    console.print(f"wrote {out / 'benchmarks.json'}, benchmarks.md and benchmarks.png "
                  f"in {time.monotonic() - started:.0f} s")


main(prog_name="python -m bench")
