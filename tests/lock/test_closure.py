"""The locked closure's pure pieces: which files moved between two closures."""

from __future__ import annotations

from helperhub.lock.closure import LockedFile, moves


def test_moves_name_what_changed() -> None:
    old = [LockedFile("a", "1", "a-1.whl", "1" * 64), LockedFile("b", "1", "b-1.whl", "2" * 64)]
    new = [LockedFile("a", "2", "a-2.whl", "3" * 64), LockedFile("c", "1", "c-1.whl", "4" * 64), old[1]]
    assert moves(old, new) == [("a", "1", "2"), ("c", "-", "1")]

