"""Reading the ``Prefer`` header (RFC 7240): which wait a client asked for, if any."""

from __future__ import annotations

import pytest

from api.prefer import applied, requested_wait


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("wait=5", 5.0),
        ("WAIT = 5", 5.0),
        ('wait="7"', 7.0),
        ("wait=0.25", 0.25),
        ("respond-async, wait=10", 10.0),
        ("handling=lenient; x=1, wait=3", 3.0),
        ("wait=3, wait=9", 3.0),  # the first one counts
        ("wait=99", 30.0),  # capped at the longest wait
    ],
)
def test_a_wait_is_read_and_capped(header: str, seconds: float) -> None:
    assert requested_wait(header, max_wait=30) == seconds


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "respond-async",
        "return=minimal",
        "wait=0",
        "wait=",
        "wait=soon",
        "wait=-1",
        # Only ASCII digits: Python's float() would read each of these.
        "wait=1_0",
        "wait=\u0663",  # an Arabic-Indic 3
        "wait=\uff15.5",  # a fullwidth 5
        "wait=1e1",
    ],
)
def test_no_wait_or_one_that_does_not_parse_is_none(header: str | None) -> None:
    assert requested_wait(header, max_wait=30) is None


def test_a_malformed_wait_is_ignored_rather_than_a_later_one_taken() -> None:
    assert requested_wait("wait=soon, wait=5", max_wait=30) is None


def test_a_longer_name_is_another_preference() -> None:
    assert requested_wait("waiting=5, wait=2", max_wait=30) == 2.0


def test_the_applied_wait_is_echoed_without_trailing_zeros() -> None:
    assert applied(5.0) == "wait=5"
    assert applied(0.5) == "wait=0.5"
