"""Test-only tasks, loaded by workers started with ``include=(CRASHING_TASKS,)``."""

from __future__ import annotations

import os
import signal

from celery import shared_task, states

from workflows.base_task import SumflowTask

__all__ = ["CRASHING_TASKS", "KILL_OWN_PROCESS", "STORE_THEN_DIE"]

CRASHING_TASKS = __name__
KILL_OWN_PROCESS = "tests.kill_own_process"
STORE_THEN_DIE = "tests.store_then_die"


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
