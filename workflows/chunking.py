"""Splitting a batch of pairs into chunks, and finding which pairs each chunk task holds.

A chunked group sends ``ceil(n / size)`` tasks instead of ``n``; chunk ``i`` holds pairs
``[i * size, min(n, (i + 1) * size))``. Both the sender and the status reader use these
functions, so they cannot disagree about where a pair's result lives.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["chunk_spans", "split", "tasks_needed"]

T = TypeVar("T")


def tasks_needed(total: int, chunk_size: int | None) -> int:
    """How many tasks ``total`` pairs become: one each, or one per chunk."""
    if chunk_size is None:
        return total
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    return -(-total // chunk_size)


def chunk_spans(total: int, chunk_size: int | None) -> list[tuple[int, int]]:
    """The ``(start, stop)`` range of pairs each task holds, in task order."""
    size = 1 if chunk_size is None else chunk_size
    if size < 1:
        raise ValueError("chunk_size must be at least 1")
    return [(start, min(start + size, total)) for start in range(0, total, size)]


def split(items: Sequence[T], chunk_size: int) -> list[Sequence[T]]:
    """``items`` cut into consecutive slices of ``chunk_size`` (the last may be shorter)."""
    return [items[start:stop] for start, stop in chunk_spans(len(items), chunk_size)]
