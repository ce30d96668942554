"""What the queues hold and who consumes them, answered quickly even when no worker replies."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from kombu.transport import redis as kombu_redis

from workflows.redis_client import OUTAGE_ERRORS

__all__ = ["WorkerDirectory", "WorkerView", "queue_depths"]

#: kombu's Redis transport keeps one list per priority step: "name", "name\x06\x163", ...
#: (its defaults: sumflow sets no ``priority_steps`` or ``sep`` transport option).
_PRIORITY_SEPARATOR: str = kombu_redis.Channel.sep
_PRIORITY_STEPS = tuple(kombu_redis.PRIORITY_STEPS)


def _priority_keys(queue: str) -> list[str]:
    return [
        queue if step == 0 else f"{queue}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS
    ]


def queue_depths(client: redis.Redis, queues: Sequence[str]) -> dict[str, int]:
    """Messages waiting in each queue, all priority levels counted, in one round trip."""
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for key in _priority_keys(queue):
                pipe.llen(key)
        lengths = pipe.execute()
    steps = len(_PRIORITY_STEPS)
    return {queue: sum(lengths[i * steps : (i + 1) * steps]) for i, queue in enumerate(queues)}


@dataclass(frozen=True, slots=True)
class WorkerView:
    """What the workers answered, and when (Unix time)."""

    queues_by_worker: dict[str, list[str]]
    as_of: float


class WorkerDirectory:
    """Workers and the queues they consume, from Celery's inspect, kept fresh in the background.

    A broadcast inspect always waits the full ``timeout`` (it cannot know how many workers
    will answer), so no request should wait for one. The timeout is 1 s: with 0.5 s, a healthy
    idle worker on the same machine went unheard in 7 of 24 inspects (kombu's Redis reply
    collection), and /health reported no worker; with 1 s, in none of 12.

    The first call waits for the workers and starts a thread that asks them again whenever the
    answer is ``ttl`` old, so an answer is at most ``ttl + timeout`` old. The thread stops once
    no one has asked for ``keep_fresh_for`` seconds, so an idle web process does not broadcast
    for ever; the next call then waits for the workers again, as the first did. Asked inside
    the request instead, every /health probed less often than every 3 s took the whole second,
    more than a 1 s probe timeout (Kubernetes' default) allows; and an answer refreshed only
    after it was served was as old as the previous request, minutes for a sparse probe.
    """

    def __init__(
        self,
        celery: Celery,
        ttl: float = 3.0,
        timeout: float = 1.0,
        keep_fresh_for: float = 60.0,
    ) -> None:
        self._celery = celery
        self._ttl = ttl
        self._timeout = timeout
        self._keep_fresh_for = keep_fresh_for
        self._lock = threading.Lock()
        self._refreshing = False  # a _keep_fresh thread runs
        self._asked_at = 0.0  # time.monotonic() of the last call
        self._fetched_at = 0.0  # time.monotonic() of the answer below
        self._answer = WorkerView({}, 0.0)
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def view(self) -> WorkerView:
        """The latest answer: at most ``ttl + timeout`` old, or fetched now."""
        with self._lock:
            self._asked_at = time.monotonic()
            if not self._refreshing:  # the first call, or the first after a quiet spell
                self._store(self._fetch())
                self._refreshing = True
                self._thread = threading.Thread(
                    target=self._keep_fresh, name="workers", daemon=True
                )
                self._thread.start()
            return self._answer

    def queues_by_worker(self) -> dict[str, list[str]]:
        return self.view().queues_by_worker

    @property
    def refreshing(self) -> bool:
        """Whether a thread keeps the answer fresh (someone asked within ``keep_fresh_for``)."""
        return self._refreshing

    def close(self) -> None:
        """Stop the thread that keeps the answer fresh, and wait for it (at most one inspect's
        ``timeout``), so that closing the app's connections next pulls none from under it."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join()

    def _keep_fresh(self) -> None:
        """Ask the workers again each time the answer is ``ttl`` old, while anyone asks and
        until `close`."""
        try:
            while not self._closed.is_set():
                with self._lock:
                    now = time.monotonic()
                    if now - self._asked_at > self._keep_fresh_for:
                        self._refreshing = False
                        return
                    due = self._fetched_at + self._ttl - now
                if due > 0:
                    self._closed.wait(due)
                    continue
                answer = self._fetch()
                with self._lock:
                    self._store(answer)
            with self._lock:
                self._refreshing = False
        except BaseException:
            with self._lock:  # the next call starts another
                self._refreshing = False
            raise

    def _store(self, queues_by_worker: dict[str, list[str]]) -> None:
        self._answer = WorkerView(queues_by_worker, time.time())
        self._fetched_at = time.monotonic()

    def _inspect_once_more_if_stale(self) -> dict[str, Any] | None:
        """Ask the workers; ask again if a connection a Redis restart left dead failed it.

        The web process keeps its broker connections in a pool, and a Redis restart leaves
        them dead. Collecting replies over one fails with ConnectionError (sumflow's broker
        connections do not retry by themselves: kombu would then no longer send a group as one
        transaction), which also closes it, so the second try reaches the new Redis. Without
        it, the first /health of each web process after a restart said no worker was up.
        Publishes have their own second try (``task_publish_retry_policy``). A Redis that is
        really down refuses the second try as fast as the first.
        """
        inspect = self._celery.control.inspect(timeout=self._timeout)
        try:
            return inspect.active_queues()
        except redis.ConnectionError:
            return inspect.active_queues()

    def workers_for(self, queue: str) -> list[str]:
        return sorted(w for w, qs in self.queues_by_worker().items() if queue in qs)

    def _fetch(self) -> dict[str, list[str]]:
        try:
            replies = self._inspect_once_more_if_stale()
        except OUTAGE_ERRORS:
            return {}
        return {
            worker: sorted(queue["name"] for queue in queues)
            for worker, queues in (replies or {}).items()
        }
