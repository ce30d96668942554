"""Test-only tasks, loaded by workers started with ``include=(CRASHING_TASKS,)``."""

from __future__ import annotations

import os
import signal
from typing import Any

from celery import shared_task, states
from celery.signals import before_task_publish

from workflows.arithmetic import Number, add_numbers
from workflows.base_task import SumflowTask
from workflows.canvas_tasks import SUM_ALL_TASK

__all__ = ["ADD_THEN_DIE_SENDING_CALLBACK", "CRASHING_TASKS", "KILL_OWN_PROCESS", "STORE_THEN_DIE"]

CRASHING_TASKS = __name__
KILL_OWN_PROCESS = "tests.kill_own_process"
STORE_THEN_DIE = "tests.store_then_die"
ADD_THEN_DIE_SENDING_CALLBACK = "tests.add_then_die_sending_callback"

#: Set in a pool process that ran `add_then_die_sending_callback`: it dies as it publishes a
#: chord's callback.
_die_sending_callback = False


@shared_task(name=KILL_OWN_PROCESS, base=SumflowTask)
def kill_own_process() -> None:
    """Die as a segfault or the OOM killer would: no exception, no result, no acknowledgement."""
    os.kill(os.getpid(), signal.SIGKILL)


@shared_task(name=STORE_THEN_DIE, bind=True, base=SumflowTask)
def store_then_die(self: SumflowTask, value: int) -> None:
    """Store ``value`` as this task's SUCCESS, then die before Celery goes on (to count it
    towards its chord): the moment a pool process killed at the end of an add can hit."""
    self.backend.store_result(self.request.id, value, states.SUCCESS, request=self.request)
    os.kill(os.getpid(), signal.SIGKILL)


@shared_task(name=ADD_THEN_DIE_SENDING_CALLBACK, base=SumflowTask)
def add_then_die_sending_callback(a: Number, b: Number) -> Number:
    """Add; if this completes a chord, die as the callback is published: after the SUCCESS is
    stored and Celery has claimed the callback's dispatch, before anything is sent."""
    global _die_sending_callback
    _die_sending_callback = True
    return add_numbers(a, b)


@before_task_publish.connect
def _die_if_sending_callback(sender: Any = None, **_: Any) -> None:
    if _die_sending_callback and sender == SUM_ALL_TASK:
        os.kill(os.getpid(), signal.SIGKILL)
