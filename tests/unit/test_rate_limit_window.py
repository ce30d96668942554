"""Clock-aligned rate-limit windows: the same key and end in every process, from the time alone."""

from __future__ import annotations

import pytest
from limits import parse

from api.rate_limit_counter import Count, window_of


@pytest.mark.parametrize(
    ("limit", "now", "start", "ends_at"),
    [
        ("100/second", 1_000.25, 1_000, 1_001),
        ("3/minute", 1_000.25, 960, 1_020),
        ("1000/hour", 7_300.0, 7_200, 10_800),
        ("5/10 seconds", 1_009.99, 1_000, 1_010),
    ],
)
def test_the_window_is_the_period_containing_now(
    limit: str, now: float, start: int, ends_at: int
) -> None:
    window = window_of(parse(limit), "p", "key:abc", now)
    assert window.ends_at == ends_at
    assert window.key.endswith(f":{start}")
    assert window.key.startswith("p:key:abc:")


def test_limits_of_the_same_period_do_not_share_a_counter() -> None:
    now = 5.0
    assert (
        window_of(parse("3/minute"), "p", "c", now).key
        != window_of(parse("10/minute"), "p", "c", now).key
    )


def test_a_count_over_the_amount_is_refused_until_the_window_ends() -> None:
    window = window_of(parse("3/minute"), "p", "c", 1_000.25)
    assert Count(window, 3).allowed and Count(window, 3).remaining == 0
    refused = Count(window, 4)
    assert not refused.allowed and refused.remaining == 0
    assert refused.retry_after(1_000.25) == 20  # the window ends at 1,020
    assert refused.retry_after(1_019.99) == 1  # never 0: "retry now" would be refused again
