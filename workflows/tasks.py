"""The Celery tasks. Thin on purpose: arguments in, a plain function out; the base task
(`workflows.base_task.SumflowTask`) does the retries, revokes and delivery counts."""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task

from workflows.arithmetic import Number, add_numbers
from workflows.base_task import SumflowTask
from workflows.retry import TransientError

__all__ = ["ADD_TASK", "add"]

ADD_TASK = "sumflow.add"


@shared_task(name=ADD_TASK, bind=True, base=SumflowTask)
def add(
    self: SumflowTask,
    a: Number,
    b: Number,
    fail_times: int = 0,
    retry_policy: dict[str, Any] | None = None,
) -> Number:
    """Add two numbers after the configured simulated work (the study guide's 3 s sleep).

    ``fail_times`` makes the first k attempts raise `TransientError`, so retries can be seen;
    ``retry_policy`` is applied by `SumflowTask` when that happens.
    """
    delay = self.app.settings.add_delay_seconds
    if delay:
        time.sleep(delay)
    attempt = self.request.retries + 1
    if attempt <= fail_times:
        raise TransientError(f"simulated transient failure {attempt} of {fail_times}")
    return add_numbers(a, b)
