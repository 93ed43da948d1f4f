"""The step every P1 variant runs (no ``from __future__ import annotations`` here: KFP reads the
annotations as types)."""


def small_step(x: int) -> int:
    """The same body in every variant: what is measured is the delivery around it."""
    return x + 1
