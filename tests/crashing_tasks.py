"""Test-only tasks, loaded by workers started with ``include=(CRASHING_TASKS,)``."""

from __future__ import annotations

import os
import signal

from celery import shared_task

from workflows.base_task import SumflowTask

__all__ = ["CRASHING_TASKS", "KILL_OWN_PROCESS"]

CRASHING_TASKS = __name__
KILL_OWN_PROCESS = "tests.kill_own_process"


@shared_task(name=KILL_OWN_PROCESS, base=SumflowTask)
def kill_own_process() -> None:
    """Die as a segfault or the OOM killer would: no exception, no result, no acknowledgement."""
    os.kill(os.getpid(), signal.SIGKILL)
