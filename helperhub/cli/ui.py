"""The terminal, with rich: results (tables, lists, what a command found) on stdout, so they can
be piped; progress, warnings and errors on stderr."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic

from rich.console import Console

console = Console(stderr=True, highlight=False)
results = Console(highlight=False)


class RichReporter:
    @contextmanager
    def step(self, message: str) -> Iterator[None]:
        start = monotonic()
        with console.status(f"{message} ..."):
            yield
        console.print(f"[green]✓[/] {message} [dim]({monotonic() - start:.1f} s)[/]")

    def info(self, message: str) -> None:
        console.print(message)

    def warn(self, message: str) -> None:
        console.print(f"[yellow]warning:[/] {message}")
