"""Celery's prefork pool, mended so a worker survives reconnecting right after it stopped a run.

When a worker loses Redis it stops its running adds, and their pool processes exit
(`workflows.requeue`). On reconnecting, Celery registers every pool process with the new
event loop. A process that has exited but is not yet reaped has had its exit watch removed
(``_sentinel_poll`` set to None), and registering None fails: kombu 5.7 raises ValueError for
it, expecting Celery to skip such a process, but Celery 5.7 skips only OSError and
AttributeError (celery#9250, kombu#2623). The worker then stopped with "Unrecoverable error:
ValueError('file descriptor is None')" and stayed down: a helper saw it twice in about 110
worker reconnects under load (a race: 90 more here did not hit it).

An exited process has nothing left to watch, so it is skipped; Celery reaps and replaces it.
Selected by ``worker_pool`` in `config.celery_config` when WORKER_POOL is ``prefork``.
"""

from __future__ import annotations

from typing import Any

from celery.concurrency import asynpool, prefork

__all__ = ["AsynPool", "TaskPool"]


class AsynPool(asynpool.AsynPool):
    def _track_child_process(self, proc: Any, hub: Any) -> None:
        if getattr(proc, "_sentinel_poll", 0) is None:
            return  # exited, and its exit already handled: nothing to watch
        super()._track_child_process(proc, hub)


class TaskPool(prefork.TaskPool):
    Pool = AsynPool
