"""Revoking tasks so that the revoke outlives the workers that heard it.

`revoke` broadcasts to running workers (Celery's own mechanism, which also terminates a
running task on request) and records the id in Redis, where every task checks it before it
starts (`workflows.base_task.SumflowTask.before_start`).
"""

from __future__ import annotations

import redis
from celery import Celery

from workflows import registry
from workflows.base_task import REVOKE_REASON

__all__ = ["revoke"]


def revoke(
    celery: Celery, client: redis.Redis, task_id: str, *, terminate: bool, running: bool
) -> None:
    """Revoke ``task_id``; with ``terminate`` a running task is stopped with SIGTERM.

    A task not yet running is marked REVOKED at once, so clients see it even while no worker
    is up; a running one is marked by its worker when the pool process is terminated.
    """
    registry.remember_revoked(client, task_id, celery.conf.result_expires)
    celery.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
    if not running:
        celery.backend.mark_as_revoked(task_id, REVOKE_REASON)
