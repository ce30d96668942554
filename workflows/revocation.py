"""Revoking tasks so that the revoke outlives the worker that heard it.

`revoke` broadcasts to running workers and records the id in Redis; when a worker starts it
loads every recorded id into its revoked set, so a message queued before the revoke is
discarded even by a worker that was not running when the revoke was sent.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from celery import Celery
from celery.signals import worker_init
from celery.worker import state as worker_state

from workflows import registry
from workflows.redis_client import REDIS_ERRORS, create_redis

__all__ = ["revoke"]

logger = logging.getLogger(__name__)

REVOKE_REASON = "revoked by request"


def revoke(
    celery: Celery, client: redis.Redis, task_id: str, *, terminate: bool, running: bool
) -> None:
    """Revoke ``task_id``; with ``terminate`` a running task is stopped with SIGTERM.

    A task not yet running is marked REVOKED at once, so clients see it even while no worker
    is up; a running one is marked by its worker when the pool process is terminated.
    """
    ttl = celery.conf.result_expires
    registry.remember_revoked(client, task_id, ttl)
    celery.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
    if not running:
        celery.backend.mark_as_revoked(task_id, REVOKE_REASON)


@worker_init.connect
def _load_revoked_ids(sender: Any = None, **_: Any) -> None:
    """Load revokes recorded in Redis into this worker's revoked set before it takes work."""
    app = getattr(sender, "app", None)  # sender is the worker's loader
    settings = getattr(app, "settings", None)
    if settings is None:
        return
    try:
        ids = registry.live_revoked_ids(create_redis(settings))
    except REDIS_ERRORS as exc:
        logger.warning("could not load revoked task ids from Redis: %s", exc)
        return
    for task_id in ids:
        worker_state.revoked.add(task_id)
    if ids:
        logger.info("honouring %d revoked task id(s) recorded in Redis", len(ids))
