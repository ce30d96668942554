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
