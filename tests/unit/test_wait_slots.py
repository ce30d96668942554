"""How many long-polls a web process lets hold their threads (api/wait_slots.py)."""

from __future__ import annotations

import pytest

from api.wait_slots import WaitSlots, slots_for


@pytest.mark.parametrize(("threads", "slots"), [(1, 1), (2, 1), (4, 3), (8, 6), (16, 12), (32, 24)])
def test_a_quarter_of_the_threads_never_wait(threads: int, slots: int) -> None:
    assert slots_for(threads) == slots


def test_a_wait_beyond_the_slots_is_not_granted_and_slots_come_back() -> None:
    slots = WaitSlots(2)
    with slots.hold(5) as first, slots.hold(2.5) as second:
        assert (first, second, slots.held) == (5, 2.5, 2)
        with slots.hold(5) as third:
            assert third is None
            assert slots.held == 2
    assert slots.held == 0
    with slots.hold(5) as again:
        assert again == 5


def test_a_wait_of_zero_takes_no_slot_and_is_always_granted() -> None:
    slots = WaitSlots(1)
    with slots.hold(5), slots.hold(0) as granted:
        assert granted == 0
        assert slots.held == 1


def test_a_slot_comes_back_when_the_wait_fails() -> None:
    slots = WaitSlots(1)
    with pytest.raises(LookupError), slots.hold(5):
        raise LookupError("no such task")
    assert slots.held == 0
