"""Small typed helpers for tests."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def found(value: T | None) -> T:
    """The value of a lookup that the test expects to have found something.

    Narrows ``X | None`` (``.first()``, ``.get()``, ``re.search`` …) for the type
    checker, and fails the test right there if it found nothing.
    """
    assert value is not None
    return value
