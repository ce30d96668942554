"""Request bodies exactly as the API names their fields (README: the walk-through)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from api.cli.inputs import InputError, Number, Pair

#: ``--expires-after never``: runs never expire (the API's null).
NEVER = "never"

__all__ = [
    "NEVER",
    "add_body",
    "chain_body",
    "chord_body",
    "group_body",
    "parse_retry_policy",
    "schedule_body",
    "schedule_changes",
    "task_options",
]


def parse_retry_policy(text: str | None) -> str | dict[str, Any] | None:
    """A policy name, or an inline JSON object such as ``{"max_retries": 2, ...}``."""
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        try:
            policy = json.loads(text)
        except ValueError as exc:
            raise InputError(f"--retry-policy is not valid JSON: {exc}") from None
        if not isinstance(policy, dict):
            raise InputError("--retry-policy must be a name or a JSON object")
        return policy
    return text


def task_options(
    queue: str | None = None, retry_policy: str | None = None, fail_times: int | None = None
) -> dict[str, Any]:
    """The optional fields every submission takes; only those given are sent."""
    options: dict[str, Any] = {}
    if queue is not None:
        options["queue"] = queue
    policy = parse_retry_policy(retry_policy)
    if policy is not None:
        options["retry_policy"] = policy
    if fail_times:
        options["fail_times"] = fail_times
    return options


def add_body(
    a: Number, b: Number, options: dict[str, Any], countdown: float | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"a": a, "b": b, **options}
    if countdown is not None:
        body["countdown"] = countdown
    return body


def chain_body(numbers: Sequence[Number], options: dict[str, Any]) -> dict[str, Any]:
    if len(numbers) < 2:
        raise InputError("a chain needs at least two numbers")
    return {"numbers": list(numbers), **options}


def _pairs(pairs: Sequence[Pair]) -> list[list[Number]]:
    return [[a, b] for a, b in pairs]


def group_body(
    pairs: Sequence[Pair], options: dict[str, Any], chunk_size: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"pairs": _pairs(pairs), **options}
    if chunk_size is not None:
        body["chunk_size"] = chunk_size
    return body


def chord_body(pairs: Sequence[Pair], options: dict[str, Any]) -> dict[str, Any]:
    return {"pairs": _pairs(pairs), **options}


def schedule_body(
    name: str,
    a: Number,
    b: Number,
    *,
    every: float | None = None,
    crontab: str | None = None,
    queue: str | None = None,
    retry_policy: str | None = None,
    fail_times: int | None = None,
    enabled: bool = True,
    expires_after: int | str | None = None,
) -> dict[str, Any]:
    """``POST /schedules``: exactly one of ``every`` (seconds) and ``crontab``; an
    ``expires_after`` of `NEVER` is the default, and not sent."""
    if (every is None) == (crontab is None):
        raise InputError("give exactly one of --every SECONDS and --crontab EXPRESSION")
    body: dict[str, Any] = {"name": name, "a": a, "b": b}
    if every is not None:
        body["every"] = every
    else:
        body["crontab"] = crontab
    body.update(task_options(queue, retry_policy, fail_times))
    if not enabled:
        body["enabled"] = False
    if expires_after not in (None, NEVER):
        body["expires_after"] = expires_after
    return body


def schedule_changes(
    *,
    every: float | None = None,
    crontab: str | None = None,
    a: Number | None = None,
    b: Number | None = None,
    enabled: bool | None = None,
    queue: str | None = None,
    retry_policy: str | None = None,
    fail_times: int | None = None,
    expires_after: int | str | None = None,
) -> dict[str, Any]:
    """``PATCH /schedules/<name>``: only the fields to change; ``expires_after`` `NEVER`
    removes the expiry (null)."""
    if every is not None and crontab is not None:
        raise InputError("give at most one of --every and --crontab")
    changes = {"every": every, "crontab": crontab, "a": a, "b": b, "enabled": enabled}
    body: dict[str, Any] = {key: value for key, value in changes.items() if value is not None}
    body.update(task_options(queue, retry_policy))
    if fail_times is not None:  # 0 is a change too: back to no simulated failures
        body["fail_times"] = fail_times
    if expires_after is not None:
        body["expires_after"] = None if expires_after == NEVER else expires_after
    if not body:
        raise InputError(
            "nothing to change: give --every, --crontab, --a, --b, --queue, --retry-policy, "
            "--fail-times or --expires-after"
        )
    return body
