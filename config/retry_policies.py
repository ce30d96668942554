"""Named retry policies: how often and how patiently a failing add is tried again."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["BUILTIN_POLICIES", "RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: wait ``backoff`` s, doubling each retry, capped at ``backoff_max``.

    With ``jitter`` each delay is drawn uniformly from [delay/2, delay], so a burst of failures
    does not retry in lock-step but the delay still grows from one retry to the next.
    """

    max_retries: int
    backoff: float
    backoff_max: float
    jitter: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


BUILTIN_POLICIES: dict[str, RetryPolicy] = {
    # Fail on the first error: for work where a late answer is worse than none.
    "none": RetryPolicy(max_retries=0, backoff=0, backoff_max=0, jitter=False),
    # The default: rides out a few seconds of trouble without piling up.
    "default": RetryPolicy(max_retries=3, backoff=1, backoff_max=30, jitter=True),
    # For flaky dependencies: many quick retries.
    "aggressive": RetryPolicy(max_retries=8, backoff=0.2, backoff_max=5, jitter=True),
    # For slow recoveries: few retries, long waits (capped below the visibility timeout).
    "patient": RetryPolicy(max_retries=5, backoff=10, backoff_max=240, jitter=True),
}
