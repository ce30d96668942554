"""The pure sums behind the tasks."""

from workflows.arithmetic import add_numbers, sum_numbers


def test_integers_stay_exact_integers() -> None:
    total = add_numbers(2**62, 2**62)
    assert total == 2**63
    assert isinstance(total, int)


def test_floats_follow_ieee_754() -> None:
    assert add_numbers(0.1, 0.2) == 0.30000000000000004


def test_sum_numbers_keeps_integers_and_starts_at_zero() -> None:
    assert sum_numbers([]) == 0
    assert isinstance(sum_numbers([1, 2, 3]), int)
    assert sum_numbers([1, 2.5]) == 3.5


def test_add_pairs_keeps_order_and_exactness() -> None:
    from workflows.arithmetic import add_pairs

    assert add_pairs([[1, 2], [2**62, 2**62], [0.1, 0.2]]) == [3, 2**63, 0.30000000000000004]
    assert add_pairs([]) == []


def test_sum_results_flattens_chunk_lists() -> None:
    from workflows.arithmetic import sum_results

    assert sum_results([3, [1, 2], [], 4]) == 10
    assert isinstance(sum_results([[2**62], [2**62]]), int)
    assert sum_results([]) == 0
