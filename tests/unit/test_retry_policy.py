"""Retry delays and policy resolution, without any services."""

import pytest

from config import RetryPolicy, load_settings
from workflows.retry import UnknownRetryPolicy, resolve_policy, retry_delay

POLICY = RetryPolicy(max_retries=5, backoff=1, backoff_max=5, jitter=False)


def test_delays_double_then_stop_at_the_cap() -> None:
    assert [retry_delay(POLICY, n) for n in range(5)] == [1, 2, 4, 5, 5]


def test_jitter_draws_between_half_and_the_full_delay() -> None:
    jittery = RetryPolicy(max_retries=3, backoff=4, backoff_max=100, jitter=True)
    bounds: list[tuple[float, float]] = []
    retry_delay(jittery, 1, uniform=lambda lo, hi: bounds.append((lo, hi)) or hi)
    assert bounds == [(4.0, 8.0)]


def test_names_inline_objects_and_the_default_resolve() -> None:
    settings = load_settings({})
    assert resolve_policy(settings, "none").max_retries == 0
    assert resolve_policy(settings, None) == settings.retry_policies["default"]
    inline = {"max_retries": 2, "backoff": 0.5, "backoff_max": 2, "jitter": False}
    resolved = resolve_policy(settings, inline)
    assert resolved == RetryPolicy(2, 0.5, 2, False)
    assert type(resolved.backoff_max) is int  # echoed as 2, the way it was sent
    with pytest.raises(UnknownRetryPolicy):
        resolve_policy(settings, "nope")
