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

A pool process that dies is noticed at once, not up to 5 s later. Celery 5.7 watches each
process's sentinel (a pipe that closes when it exits) and then reaps it
(``AsynPool._event_process_exit``). But a killed process closes its files a moment before it
can be reaped, so the reap often found it still running and left it to the pool's next
periodic check, every 5 s: its task was failed or requeued 1.4-4.5 s after a `kill -9` in 10
trials of 12 (0.01 s in the others). Here a process still there when its sentinel fires is
looked at again after 10 ms, then 20, 40... until it is reaped: 0.01-0.02 s in 12 trials of
12.

Selected by ``worker_pool`` in `config.celery_config` when WORKER_POOL is ``prefork``.
"""

from __future__ import annotations

from typing import Any

from celery.concurrency import asynpool, prefork

__all__ = ["AsynPool", "TaskPool"]


#: First pause before looking again at a process whose sentinel fired before it could be
#: reaped; it doubles each time, up to the pool's own periodic check.
REAP_RETRY_SECONDS = 0.01


class AsynPool(asynpool.AsynPool):
    def _track_child_process(self, proc: Any, hub: Any) -> None:
        if getattr(proc, "_sentinel_poll", 0) is None:
            return  # exited, and its exit already handled: nothing to watch
        super()._track_child_process(proc, hub)

    def _event_process_exit(self, hub: Any, proc: Any) -> None:
        """Celery's: stop watching the process and reap it. Then, if it could not be reaped
        yet, look again soon instead of at the next periodic check (see module)."""
        super()._event_process_exit(hub, proc)
        self._reap_soon(hub, proc, REAP_RETRY_SECONDS)

    def _reap_soon(self, hub: Any, proc: Any, delay: float) -> None:
        if proc not in self._pool or delay > self.timers[self.maintain_pool]:
            return  # reaped, or the pool's periodic check comes first anyway

        def again() -> None:
            self.maintain_pool()
            self._reap_soon(hub, proc, delay * 2)

        hub.call_later(delay, again)


class TaskPool(prefork.TaskPool):
    Pool = AsynPool
