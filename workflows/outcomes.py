"""Task outcomes counted where every API process can read them: one Redis hash for all workers.

Workers run in other processes, possibly on other machines, so their counts cannot live in the
API's memory. Each outcome (SUCCESS, FAILURE, RETRY, REVOKED) costs one HINCRBY on
`OUTCOMES_KEY`, field ``[state, queue, task name]`` as JSON, done by Celery's signal handlers
in the process that saw it. ``GET /metrics`` reads the hash back as counters.

Each outcome is also logged with the task id, queue and outcome, as text or as JSON fields.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from celery import Task, states
from celery.signals import task_failure, task_retry, task_revoked, task_success

from workflows.redis_client import REDIS_ERRORS

__all__ = ["OUTCOMES_KEY", "outcome_counts", "record_outcome"]

OUTCOMES_KEY = "sumflow:metrics:task_outcomes"

logger = logging.getLogger("sumflow.tasks")


def _field(state: str, queue: str, task_name: str) -> str:
    return json.dumps([state, queue, task_name])


def _queue_of(request: Any) -> str:
    """The queue a task came from: its routing key (queue and key share names here)."""
    info = getattr(request, "delivery_info", None) or {}
    return info.get("routing_key") or info.get("queue") or "unknown"


def record_outcome(task: Task, request: Any, state: str) -> None:
    """Count and log one outcome of ``task``; a Redis error is logged, never raised."""
    queue = _queue_of(request)
    task_id = getattr(request, "id", None)
    logger.info(
        "task %s[%s] %s queue=%s",
        task.name,
        task_id,
        state,
        queue,
        extra={"task_id": task_id, "task_name": task.name, "queue": queue, "outcome": state},
    )
    try:
        task.backend.client.hincrby(OUTCOMES_KEY, _field(state, queue, task.name), 1)
    except REDIS_ERRORS as exc:
        logger.warning("could not count outcome %s of %s: %s", state, task_id, exc)


def outcome_counts(client: redis.Redis) -> dict[tuple[str, str, str], int]:
    """Every counted outcome: (state, queue, task name) → count."""
    counts: dict[tuple[str, str, str], int] = {}
    for field, value in client.hgetall(OUTCOMES_KEY).items():
        try:
            state, queue, name = json.loads(field)
        except (ValueError, TypeError):
            continue
        counts[(state, queue, name)] = int(value)
    return counts


@task_success.connect
def _on_success(sender: Task, **_: Any) -> None:
    record_outcome(sender, sender.request, states.SUCCESS)


@task_failure.connect
def _on_failure(sender: Task, **_: Any) -> None:
    record_outcome(sender, sender.request, states.FAILURE)


@task_retry.connect
def _on_retry(sender: Task, request: Any = None, **_: Any) -> None:
    record_outcome(sender, request or sender.request, states.RETRY)


@task_revoked.connect
def _on_revoked(sender: Task, request: Any = None, **_: Any) -> None:
    record_outcome(sender, request, states.REVOKED)
