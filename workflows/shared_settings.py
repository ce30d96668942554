"""Settings every process must share, published by each worker so that /health can say when
they differ.

Each process reads its own environment, and nothing else compares them. A worker with a
shorter VISIBILITY_TIMEOUT_SECONDS than the API's hands out again a message another worker is
still running, or that a countdown still holds (one add ran 3 times in an operator's test of a
600 s API against 20 s workers); with other TASK_QUEUES, API servers disagree on what a queue
is. So each worker writes these settings under its name when it connects, and the API
compares them with its own for the workers that answer.

Each worker's entry is a key of its own that expires (`entry_ttl`) unless the worker
refreshes it, which it does four times per TTL. A worker that stops withdraws it; one killed
(SIGKILL, a container gone) cannot, and its entry goes once the TTL is up. In one hash that
never expired, as before, a fleet whose worker names change with every deploy (container ids)
left a field per name forever.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import redis
from celery import bootsteps

from config import Settings
from workflows.redis_client import REDIS_ERRORS

__all__ = [
    "LEGACY_SETTINGS_KEY",
    "SETTINGS_KEY_PREFIX",
    "PublishSharedSettings",
    "disagreements",
    "entry_ttl",
    "settings_key",
    "shared_settings",
]

logger = logging.getLogger(__name__)

#: Followed by a worker's name: the JSON of its `shared_settings`, for `entry_ttl` seconds.
SETTINGS_KEY_PREFIX = "sumflow:worker-settings:"
#: The hash, worker name to settings, that workers of earlier versions wrote and never
#: expired. Workers remove it (`PublishSharedSettings`); that can go once none of those runs.
LEGACY_SETTINGS_KEY = "sumflow:worker-settings"
#: The longest a dead worker's entry stays: a few minutes, however long its visibility timeout.
MAX_ENTRY_TTL = 600
#: Refreshes per TTL: a refresh or two can fail (Redis busy, the worker's loop held up by a
#: long call) before a live worker's entry expires.
REFRESHES_PER_TTL = 4


def settings_key(worker: str) -> str:
    """The key holding the shared settings of the worker named ``worker`` (``name@host``)."""
    return SETTINGS_KEY_PREFIX + worker


def entry_ttl(settings: Settings) -> int:
    """Seconds a worker's entry outlives its last refresh: its visibility timeout (a worker
    silent that long is taken for gone: its messages go to others), at most `MAX_ENTRY_TTL`."""
    return min(settings.visibility_timeout_seconds, MAX_ENTRY_TTL)


def shared_settings(settings: Settings) -> dict[str, Any]:
    """The settings that must be the same on every process, by their variables' names."""
    return {
        "VISIBILITY_TIMEOUT_SECONDS": settings.visibility_timeout_seconds,
        "RESULT_EXPIRES_SECONDS": settings.result_expires_seconds,
        "MAX_DELIVERIES": settings.max_deliveries,
        "TASK_QUEUES": list(settings.queues),
        "DEFAULT_QUEUE": settings.default_queue,
    }


def disagreements(client: redis.Redis, settings: Settings, workers: Iterable[str]) -> list[str]:
    """One problem per setting a worker in ``workers`` holds otherwise than ``settings``.

    A worker that published nothing (an older one, or one whose entry expired or Redis lost)
    is passed over: this tells of a difference seen, and cannot promise there is none."""
    names = sorted(workers)
    if not names:
        return []
    mine = shared_settings(settings)
    problems = []
    entries = client.mget([settings_key(name) for name in names])
    for worker, published in zip(names, entries, strict=True):
        if published is None:
            continue
        theirs = json.loads(published)
        problems += [
            f"{name} is {_shown(theirs[name])} on worker {worker} but {_shown(value)} here: "
            "every process must have the same."
            for name, value in mine.items()
            if name in theirs and theirs[name] != value
        ]
    return problems


def _shown(value: Any) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


class PublishSharedSettings(bootsteps.StartStopStep):
    """A consumer step: on every connection, write this worker's shared settings and refresh
    them on the consumer's timer until the connection ends; on shutdown, remove them. Never a
    reason for a worker to stop: a failure is logged, and the next refresh tries again."""

    requires = ("celery.worker.consumer.connection:Connection",)

    def __init__(self, c: Any, **kwargs: Any) -> None:
        super().__init__(c, **kwargs)
        self._refresh: Any = None  # the timer entry, while connected

    def start(self, c: Any) -> None:
        ttl = entry_ttl(c.app.settings)
        self._publish(c, ttl)
        self._refresh = c.timer.call_repeatedly(ttl / REFRESHES_PER_TTL, self._publish, (c, ttl))

    def stop(self, c: Any) -> None:
        """The connection ends (Celery reconnects, or the worker stops): no more refreshes.
        The entry stays until the next connection's, or until it expires."""
        if self._refresh is not None:
            c.timer.cancel(self._refresh)
            self._refresh = None

    def shutdown(self, c: Any) -> None:
        self.stop(c)
        try:
            c.app.backend.client.delete(settings_key(c.hostname))
        except REDIS_ERRORS as exc:
            logger.warning("could not withdraw this worker's settings: %s", exc)

    @staticmethod
    def _publish(c: Any, ttl: int) -> None:
        published = json.dumps(shared_settings(c.app.settings))
        try:
            with c.app.backend.client.pipeline(transaction=False) as pipe:
                pipe.set(settings_key(c.hostname), published, ex=ttl)
                pipe.delete(LEGACY_SETTINGS_KEY)
                pipe.execute()
        except REDIS_ERRORS as exc:
            logger.warning("could not publish this worker's settings: %s", exc)
