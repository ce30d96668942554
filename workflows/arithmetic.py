"""The pure arithmetic behind every task: exact for integers, IEEE 754 for floats."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["Number", "add_numbers", "sum_numbers"]

Number = int | float


def add_numbers(a: Number, b: Number) -> Number:
    """Return ``a + b``; two integers give an exact integer of any size."""
    return a + b


def sum_numbers(values: Iterable[Number]) -> Number:
    """Sum left to right, starting from the integer 0 so that integers stay integers."""
    total: Number = 0
    for value in values:
        total += value
    return total
