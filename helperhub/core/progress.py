"""How long-running steps tell the user what they are doing, without the library printing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol


class Reporter(Protocol):
    def step(self, message: str) -> AbstractContextManager[None]:
        """A long step: shown while it runs."""

    def info(self, message: str) -> None:
        """A result worth one line."""

    def warn(self, message: str) -> None:
        """Something the user should know but that does not stop the work."""


class Silent:
    """A reporter that says nothing, for library use and tests."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    @contextmanager
    def step(self, message: str) -> Iterator[None]:
        self.messages.append(message)
        yield

    def info(self, message: str) -> None:
        self.messages.append(message)

    def warn(self, message: str) -> None:
        self.messages.append(f"warning: {message}")
