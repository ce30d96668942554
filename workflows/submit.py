"""Sending add tasks: record the id as issued, then publish. Nothing here knows about HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import uuid

from config import RetryPolicy
from workflows.broker import PublishGate, pooled_producer, written_with_publish
from workflows.celery_app import SumflowCelery
from workflows.registry import issued_marker
from workflows.tasks import ADD_TASK

__all__ = ["TaskOptions", "submit_add"]


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """How to run an add: where, with which retry policy, and with simulated failures."""

    queue: str | None = None
    retry_policy: RetryPolicy | None = None
    fail_times: int = 0
    countdown: float | None = None

    def task_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the add task; empty for plain adds, so their messages stay
        exactly what `add.delay(a, b)` would send."""
        kwargs: dict[str, Any] = {}
        if self.fail_times:
            kwargs["fail_times"] = self.fail_times
        if self.retry_policy is not None:
            kwargs["retry_policy"] = self.retry_policy.as_dict()
        return kwargs

    def publish_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.queue:
            options["queue"] = self.queue
        if self.countdown:
            options["countdown"] = self.countdown
        return options


def submit_add(
    celery: SumflowCelery,
    a: Any,
    b: Any,
    options: TaskOptions,
    task_id: str | None = None,
    gate: PublishGate | None = None,
) -> str:
    """Queue one add and return its task id (``task_id`` if given, else a new one).

    The id is recorded as issued in the publish's own round trip, ahead of the message
    (workflows.broker): if publishing fails the caller gets an error and never sees the id,
    and no worker can run the task before its id is known. A ``gate`` (the rate limiter's)
    decides in that round trip whether the message is queued, and raises if it is not; the
    broker connection is kept for the next add all the same.
    """
    task_id = task_id or uuid()
    marker = issued_marker(task_id, "add", celery.conf.result_expires)
    with written_with_publish(marker, gate=gate), pooled_producer(celery) as producer:
        celery.tasks[ADD_TASK].apply_async(
            (a, b),
            options.task_kwargs(),
            task_id=task_id,
            producer=producer,
            **options.publish_options(),
        )
    return task_id
