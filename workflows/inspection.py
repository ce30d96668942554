"""What the queues hold and who consumes them, answered quickly even when no worker replies."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from kombu.exceptions import OperationalError
from kombu.transport import redis as kombu_redis

from workflows.consumer import RECONNECT_INTERVAL_SECONDS
from workflows.redis_client import OUTAGE_ERRORS

__all__ = ["RECONNECT_GRACE_SECONDS", "WorkerDirectory", "WorkerView", "queue_depths"]

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


#: After a Redis outage, how long the workers get to reconnect before one missing from an
#: answer counts as gone: two of their tries (they try every RECONNECT_INTERVAL_SECONDS).
RECONNECT_GRACE_SECONDS = 2 * RECONNECT_INTERVAL_SECONDS


class WorkerDirectory:
    """Workers and the queues they consume, from Celery's inspect, kept fresh in the background.

    A broadcast inspect always waits the full ``timeout`` (it cannot know how many workers
    will answer), so no request should wait for one. The timeout is 1 s: with 0.5 s, a healthy
    idle worker on the same machine went unheard in 7 of 24 inspects (kombu's Redis reply
    collection), and /health reported no worker; with 1 s, in none of 12.

    A thread asks the workers again whenever the answer is ``ttl`` old, so an answer is at
    most ``ttl + timeout`` old and no call waits for one, but a call with no answer to give:
    the first, unless `warm` started the thread, and the first after ``keep_fresh_for``
    seconds in which no one asked. The thread stops then, and drops its answer, so that an
    idle web process does not broadcast for ever: an inspect is some 34 Redis commands, a third
    of them writes, so one every 4 s is four times what an idle worker sends. Ten minutes, not
    one: a probe's requests spread over the web processes, and with two of them and a probe
    every 10 s, one went a minute without one about every 50 probes; its next /health waited.
    Asked inside the request instead, every /health probed less often than every 3 s took the
    whole second, more than a 1 s probe timeout (Kubernetes' default) allows; and an answer
    refreshed only after it was served was as old as the previous request, minutes for a
    sparse probe.

    An inspect that fails because Redis does not answer says nothing of the workers: the last
    answer stays, and the thread tries again every ``retry_after`` seconds rather than after
    ``ttl``. A worker that loses Redis (an outage, a restart, a dropped connection) needs a
    moment to reconnect, and meanwhile does not answer: so an answer that lacks a worker the
    last one had is not taken until ``reconnect_grace`` seconds after the first such answer
    (counted again from Redis's return when an outage comes between), and the thread asks
    again at once meanwhile. Taking the outage's failure, or the first answer after it, as "no
    worker answered" had /health report the workers down for 3-4 s after every Redis blip; a
    worker that has really gone is now reported so ``reconnect_grace`` seconds later.
    """

    def __init__(
        self,
        celery: Celery,
        ttl: float = 3.0,
        timeout: float = 1.0,
        keep_fresh_for: float = 600.0,
        retry_after: float = 0.5,
        reconnect_grace: float = RECONNECT_GRACE_SECONDS,
    ) -> None:
        self._celery = celery
        self._ttl = ttl
        self._timeout = timeout
        self._keep_fresh_for = keep_fresh_for
        self._retry_after = retry_after
        self._reconnect_grace = reconnect_grace
        self._lock = threading.Lock()
        self._inspected = threading.Condition(self._lock)  # notified after each inspect
        self._inspects = 0  # inspects done, answered or not
        self._refreshing = False  # a _keep_fresh thread runs
        self._asked_at = 0.0  # time.monotonic() of the last call
        self._next_at = 0.0  # time.monotonic() at which the thread asks the workers next
        self._answer: WorkerView | None = None
        self._failure: Exception | None = None  # why the last inspect got no answer
        self._missing_since: float | None = None  # when a worker of the answer first was not
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()

    def warm(self) -> None:
        """Ask the workers now, in the background, without waiting for their answer: for a web
        process as it starts, so that its first request finds the answer there. Call it after
        any fork: the thread it starts is the process's own."""
        with self._lock:
            self._asked_at = time.monotonic()
            self._start()

    def view(self) -> WorkerView:
        """The latest answer: at most ``ttl + timeout`` old (or the last one before a Redis
        outage, until the workers answer again), or fetched now. Raises kombu's
        OperationalError when there is none to give because Redis did not answer."""
        with self._lock:
            self._asked_at = time.monotonic()
            if not self._refreshing or self._answer is None:
                # The first call, the first after a quiet spell, or one while the thread has
                # no answer yet (its first inspect is under way): wait for an inspect.
                inspects = self._inspects
                self._start()
                self._inspected.wait_for(lambda: self._inspects != inspects or not self._refreshing)
            if self._answer is None:
                if self._failure is None:  # the thread failed: its traceback is in the log
                    raise RuntimeError("asking the workers failed")
                raise OperationalError(f"the workers could not be asked: {self._failure}")
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

    def _start(self) -> None:
        """Start the thread, asking at once, unless it runs (with the lock held)."""
        if self._refreshing or self._closed.is_set():
            return
        self._refreshing = True
        self._next_at = time.monotonic()
        self._thread = threading.Thread(target=self._keep_fresh, name="workers", daemon=True)
        self._thread.start()

    def _keep_fresh(self) -> None:
        """Ask the workers whenever `_take` said to, while anyone asks and until `close`."""
        try:
            while not self._closed.is_set():
                with self._lock:
                    now = time.monotonic()
                    if now - self._asked_at > self._keep_fresh_for:
                        # No one will keep the answer fresh: the next call waits for a new one.
                        self._refreshing = False
                        self._answer = None
                        return
                    due = self._next_at - now
                if due > 0:
                    self._closed.wait(due)
                    continue
                sent = time.monotonic()
                try:
                    answer, failure = self._fetch(), None
                except OUTAGE_ERRORS as exc:
                    answer, failure = None, exc
                with self._lock:
                    self._take(answer, failure, sent)
        finally:
            with self._lock:
                if self._thread is threading.current_thread():
                    self._refreshing = False  # closed, or failed: the next call starts another
                self._inspected.notify_all()

    def _take(
        self, answer: dict[str, list[str]] | None, failure: Exception | None, sent: float
    ) -> None:
        """Keep what an inspect sent at ``sent`` found, and say when to ask next (with the
        lock held)."""
        now = time.monotonic()
        self._inspects += 1
        self._inspected.notify_all()
        if answer is None:  # Redis did not answer: nothing is known of the workers
            self._failure = failure
            self._missing_since = None  # once it answers, they get their time to reconnect
            self._next_at = now + self._retry_after
            return
        self._failure = None
        last = self._answer.queues_by_worker if self._answer else {}
        if not last.keys() <= answer.keys():  # a worker is missing: it may be reconnecting
            if self._missing_since is None:
                self._missing_since = sent
            if sent < self._missing_since + self._reconnect_grace:
                self._next_at = now  # at once: an inspect that got answers took ``timeout``
                return
        self._missing_since = None
        self._answer = WorkerView(answer, time.time())
        self._next_at = now + self._ttl

    def _inspect_once_more_if_stale(self) -> dict[str, Any] | None:
        """Ask the workers; ask again if a connection a Redis restart left dead failed it.

        The web process keeps its broker connections in a pool, and a Redis restart leaves
        them dead. Collecting replies over one fails with ConnectionError (sumflow's broker
        connections do not retry by themselves: kombu would then no longer send a group as one
        transaction), which also closes it, so the second try reaches the new Redis. Without
        it, the first /health of each web process after a restart said no worker was up.
        Publishes have their own second try (``task_publish_retry_policy``).

        Each try connects once, if it must: kombu's own connect tries for some 6 s, two tries
        2 s and 4 s apart, so a failing inspect held the thread that long and it saw Redis
        back up to 4 s late.
        """
        with self._celery.connection_or_acquire() as connection:
            inspect = self._celery.control.inspect(timeout=self._timeout, connection=connection)
            try:
                connection.ensure_connection(max_retries=0)
                return inspect.active_queues()
            except redis.ConnectionError:
                connection.ensure_connection(max_retries=0)
                return inspect.active_queues()

    def workers_for(self, queue: str) -> list[str]:
        return sorted(w for w, qs in self.queues_by_worker().items() if queue in qs)

    def _fetch(self) -> dict[str, list[str]]:
        """The workers' answer; raises one of OUTAGE_ERRORS when Redis does not answer."""
        replies = self._inspect_once_more_if_stale()
        return {
            worker: sorted(queue["name"] for queue in queues)
            for worker, queues in (replies or {}).items()
        }
