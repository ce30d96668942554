"""Splitting pairs into chunks, and finding which pairs each chunk task holds."""

import pytest

from workflows.chunking import chunk_spans, split, tasks_needed


def test_tasks_needed_is_one_per_pair_or_one_per_chunk() -> None:
    assert tasks_needed(500, None) == 500
    assert tasks_needed(100_000, 100) == 1000
    assert tasks_needed(20_000, 300) == 67
    assert tasks_needed(1, 100) == 1


def test_spans_cover_every_pair_once_in_order() -> None:
    assert chunk_spans(5, 2) == [(0, 2), (2, 4), (4, 5)]
    assert chunk_spans(3, None) == [(0, 1), (1, 2), (2, 3)]
    assert chunk_spans(4, 10) == [(0, 4)]
    spans = chunk_spans(20_000, 300)
    assert len(spans) == tasks_needed(20_000, 300)
    assert [i for start, stop in spans for i in range(start, stop)] == list(range(20_000))


def test_split_cuts_consecutive_slices() -> None:
    pairs = [[i, i] for i in range(7)]
    chunks = split(pairs, 3)
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    assert [pair for chunk in chunks for pair in chunk] == pairs


@pytest.mark.parametrize("size", [0, -1])
def test_a_chunk_size_below_one_is_refused(size: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        chunk_spans(3, size)
    with pytest.raises(ValueError, match="at least 1"):
        tasks_needed(3, size)
