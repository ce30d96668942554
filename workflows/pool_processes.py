"""Pool processes in a process group of their own, so that stopping the worker lets running
adds finish.

Honcho (``make run``'s Ctrl-C) and other supervisors stop a process with
``os.killpg(pid, SIGTERM)``: every process in its group gets the signal. The worker's main
process answers SIGTERM with a warm shutdown (take no more work, finish what runs), but its
prefork pool processes share its group, and SIGTERM ends them at once: the running adds were
lost and came back only after the visibility timeout.

In a group of their own, the pool processes get no signal meant for the worker. The main
process still reaches them by pid (revoke with terminate, shutdown), and Celery has the kernel
end them if it dies (PR_SET_PDEATHSIG). systemd kills by cgroup, not by group: give the worker
``KillMode=mixed`` there (README, "Running workers and the beat by hand").
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import worker_process_init

__all__: list[str] = []


@worker_process_init.connect
def _own_process_group(**_: Any) -> None:
    os.setpgid(0, 0)
