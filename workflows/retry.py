"""Per-message retry policies: Celery has none (celery#6639), so the policy rides in the message.

The API resolves a policy name or inline object to plain fields and sends them as the
``retry_policy`` keyword; `workflows.base_task.SumflowTask` applies them when a task raises
`TransientError`.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from config import RetryPolicy, Settings

__all__ = [
    "RetriesExhausted",
    "TransientError",
    "UnknownRetryPolicy",
    "resolve_policy",
    "retry_delay",
]


class TransientError(Exception):
    """A failure worth retrying: the same call may well succeed a moment later."""


class RetriesExhausted(Exception):
    """Every attempt the policy allowed has failed."""


class UnknownRetryPolicy(LookupError):
    """A retry policy name that is not configured."""


def resolve_policy(settings: Settings, spec: str | Mapping[str, Any] | None) -> RetryPolicy:
    """Turn a policy name, an inline mapping or None (the default policy) into a RetryPolicy."""
    if spec is None:
        spec = settings.default_retry_policy
    if isinstance(spec, str):
        try:
            return settings.retry_policies[spec]
        except KeyError:
            raise UnknownRetryPolicy(spec) from None
    return RetryPolicy(
        max_retries=int(spec["max_retries"]),
        backoff=_seconds(spec["backoff"]),
        backoff_max=_seconds(spec["backoff_max"]),
        jitter=bool(spec["jitter"]),
    )


def _seconds(value: Any) -> float:
    """A number of seconds kept as given (30 stays 30, as a named policy's does, not 30.0);
    anything else converted."""
    return value if type(value) in (int, float) else float(value)


def retry_delay(
    policy: RetryPolicy, retries: int, uniform: Callable[[float, float], float] = random.uniform
) -> float:
    """Seconds to wait before retry number ``retries + 1``: doubling, capped, maybe jittered."""
    delay = min(policy.backoff * (2**retries), policy.backoff_max)
    if policy.jitter and delay > 0:
        delay = uniform(delay / 2, delay)
    return delay
