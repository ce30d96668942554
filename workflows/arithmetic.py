"""The pure arithmetic behind every task: exact for integers, IEEE 754 for floats."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["Number", "add_numbers", "add_pairs", "sum_numbers", "sum_results"]

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


def add_pairs(pairs: Iterable[Sequence[Number]]) -> list[Number]:
    """``[a + b for each pair]``: the work of one chunk of a chunked group."""
    return [add_numbers(a, b) for a, b in pairs]


def sum_results(results: Iterable[Number | Sequence[Number]]) -> Number:
    """Sum a chord header's results, where a chunk task contributes a list of sums."""
    return sum_numbers(
        value for item in results for value in (item if isinstance(item, list | tuple) else (item,))
    )
