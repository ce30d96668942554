"""Settings every process must share, published by each worker so that /health can say when
they differ.

Each process reads its own environment, and nothing else compares them. A worker with a
shorter VISIBILITY_TIMEOUT_SECONDS than the API's hands out again a message another worker is
still running, or that a countdown still holds (one add ran 3 times in an operator's test of a
600 s API against 20 s workers); with other TASK_QUEUES, API servers disagree on what a queue
is. So each worker writes these settings under its name when it connects, and the API
compares them with its own for the workers that answer.
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

__all__ = ["SHARED_SETTINGS_KEY", "PublishSharedSettings", "disagreements", "shared_settings"]

logger = logging.getLogger(__name__)

#: Hash: worker name to the JSON of its `shared_settings`.
SHARED_SETTINGS_KEY = "sumflow:worker-settings"


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

    A worker that published nothing (an older one, or one whose entry Redis lost) is passed
    over: this tells of a difference seen, and cannot promise there is none."""
    names = sorted(workers)
    if not names:
        return []
    mine = shared_settings(settings)
    problems = []
    for worker, published in zip(names, client.hmget(SHARED_SETTINGS_KEY, names), strict=True):
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
    """A consumer step: on every connection, write this worker's shared settings; on
    shutdown, remove them. Never a reason for a worker to stop: a failure is logged."""

    requires = ("celery.worker.consumer.connection:Connection",)

    def start(self, c: Any) -> None:
        published = json.dumps(shared_settings(c.app.settings))
        try:
            c.app.backend.client.hset(SHARED_SETTINGS_KEY, c.hostname, published)
        except REDIS_ERRORS as exc:
            logger.warning("could not publish this worker's settings: %s", exc)

    def shutdown(self, c: Any) -> None:
        try:
            c.app.backend.client.hdel(SHARED_SETTINGS_KEY, c.hostname)
        except REDIS_ERRORS as exc:
            logger.warning("could not withdraw this worker's settings: %s", exc)
