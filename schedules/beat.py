"""Inside the beat process: record every scheduled run as the beat publishes it, and make
the scheduler outlive Redis outages (`schedules.scheduler`).

The stock ``celery -A workflows beat -S redbeat.RedBeatScheduler`` (or the plain command:
``beat_scheduler`` names that class) cannot be given a scheduler subclass, so this hooks
Celery's signals instead. Celery imports this module in the
beat (the ``imports`` setting); when the beat starts, ``beat_init`` connects a
``before_task_publish`` receiver bound to that beat's settings. The receiver acts only on
messages carrying the schedule header that `schedules.store` puts in every entry's options,
and records the run (issued id, last run, history) in one round trip before it is published,
so a run is never visible to a worker before it is visible in its history. The last run and
the history are written only while the entry exists (`RunLog.record`): a run sent as its
schedule is deleted does not bring the entry back. A run the beat
cannot route (`schedules.scheduler`) is recorded too, as a FAILURE that says why.

RedBeat's own ``beat_init`` receiver is replaced: it blocks in ``lock.acquire()`` until the lock
is free, so a standby beat (README, "Scaling out") logged nothing after "beat: Starting...",
and a Redis outage while it waited logged a traceback ("Signal handler
acquire_distributed_beat_lock raised"). The resilient scheduler's first tick takes the lock
instead, or logs once that it stands by, and rides an outage out as every tick does. A beat
given another scheduler (``-S celery.beat.PersistentScheduler``) never reads the schedules in
Redis: it logs a warning that says so.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import redis
from celery import states, uuid
from celery.backends.base import Backend
from celery.exceptions import QueueNotFound
from celery.signals import beat_init, before_task_publish
from redbeat.schedulers import RedBeatScheduler, acquire_distributed_beat_lock

from config import Settings
from schedules.runs import RUN_HEADER, RUN_ID_HEADER, RunLog, run_headers
from schedules.scheduler import ResilientScheduler, adopt
from workflows.redis_client import REDIS_ERRORS, create_redis

__all__ = ["RunNotSent", "RunRecorder"]

logger = logging.getLogger(__name__)

#: Logged by a beat started with another scheduler (``-S celery.beat.PersistentScheduler``).
NOT_REDBEAT = (
    "sumflow: this beat's scheduler is %s, which does not run the schedules stored in Redis "
    "(/schedules); start the beat without -S, or with -S redbeat.RedBeatScheduler"
)


class RunNotSent(Exception):
    """The beat could not send a scheduled run; stored as that run's FAILURE."""


class RunRecorder:
    """A ``before_task_publish`` receiver writing each scheduled run to its history."""

    def __init__(
        self, client: redis.Redis, runs: RunLog, key_prefix: str, backend: Backend
    ) -> None:
        self.client = client
        self.runs = runs
        self.key_prefix = key_prefix
        self.backend = backend

    def __call__(self, headers: dict[str, Any] | None = None, **_: Any) -> None:
        headers = headers or {}
        name = headers.get(RUN_HEADER)
        if not name:
            return  # not a scheduled run
        task_id = headers["id"]
        try:
            self._record(name, task_id, headers.get(RUN_ID_HEADER, ""))
        except REDIS_ERRORS as exc:
            # Publishing will meet the same outage; the beat retries the run, not the record.
            logger.warning("could not record run %s of schedule %s: %s", task_id, name, exc)

    def unroutable(self, entry: Any, error: QueueNotFound) -> None:
        """Record a run the beat could not route as a failed run, with the reason."""
        queue = (entry.options or {}).get("queue")
        reason = (
            f"not sent: the beat does not know queue {queue!r} (TASK_QUEUES); "
            "configure it there, or PATCH the schedule's queue"
        )
        logger.warning("schedule %s: run %s (%s)", entry.name, reason, error)
        task_id = uuid()
        try:
            self.backend.store_result(task_id, RunNotSent(reason), states.FAILURE)
            self._record(entry.name, task_id, run_headers(entry).get(RUN_ID_HEADER, ""))
        except REDIS_ERRORS as exc:
            logger.warning("could not record unsent run of schedule %s: %s", entry.name, exc)

    def _record(self, name: str, task_id: str, schedule_id: str) -> None:
        """Write run ``task_id`` of schedule ``name`` to its history, in one round trip."""
        with self.client.pipeline(transaction=False) as pipe:
            key, now = self.key_prefix + name, datetime.now(UTC)
            self.runs.record(pipe, name, key, task_id, now, schedule_id)
            pipe.execute()


# Connected when redbeat.schedulers was imported (above); `_prepare_beat` calls it for any
# scheduler that does not take the lock in its ticks.
beat_init.disconnect(acquire_distributed_beat_lock)


@beat_init.connect
def _prepare_beat(sender: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None)
    settings: Settings | None = getattr(app, "settings", None)
    if app is None or settings is None:
        acquire_distributed_beat_lock(sender)  # some other Celery app: RedBeat's own start
        return
    if not isinstance(sender.scheduler, RedBeatScheduler):
        # Celery's own schedulers never read the entries in Redis, and have no lock to take.
        logger.warning(NOT_REDBEAT, type(sender.scheduler).__qualname__)
        return
    recorder = RunRecorder(
        create_redis(settings),
        RunLog.from_settings(settings),
        app.conf.redbeat_key_prefix,
        app.backend,
    )
    adopt(sender.scheduler, on_unroutable=recorder.unroutable)
    if not isinstance(sender.scheduler, ResilientScheduler):
        acquire_distributed_beat_lock(sender)  # its ticks would send without the lock
    before_task_publish.connect(recorder, weak=False, dispatch_uid="sumflow.schedule-runs")
    logger.info("sumflow: recording scheduled runs")
