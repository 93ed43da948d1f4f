"""The terminal, with rich: results (tables, lists, what a command found) on stdout, so they can
be piped; progress, warnings and errors on stderr."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich ``Console`` made on first use: every command module imports this one, and rich
    costs a tenth of a second that `--help` and quiet commands need not pay."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


console = cast("Console", _LazyConsole(stderr=True, highlight=False))
results = cast("Console", _LazyConsole(highlight=False))


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
