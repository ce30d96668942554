"""The study guide's add task; the workflows' two others are in `workflows.canvas_tasks`.

Thin on purpose: arguments in, a plain function out; the base task
(`workflows.base_task.SumflowTask`) does the retries, revokes and delivery counts."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from workflows.arithmetic import Number, add_numbers
from workflows.base_task import SumflowTask

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
    self.simulate_work(adds=1, fail_times=fail_times)
    return add_numbers(a, b)
