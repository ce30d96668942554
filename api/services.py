"""The per-app bundle of things views need: settings, the Celery app, Redis, the worker view
and the process's waiting slots."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from flask import current_app

from api.wait_slots import WaitSlots, slots_for
from config import Settings
from workflows import SumflowCelery, create_celery
from workflows.celery_app import close_connections
from workflows.inspection import WorkerDirectory
from workflows.redis_client import create_redis

__all__ = ["EXTENSION_KEY", "Services", "services"]

EXTENSION_KEY = "sumflow"


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    celery: SumflowCelery
    redis: redis.Redis
    workers: WorkerDirectory
    waits: WaitSlots

    @classmethod
    def create(cls, settings: Settings) -> Services:
        celery = create_celery(settings)
        waits = WaitSlots(slots_for(settings.web_threads))
        return cls(settings, celery, create_redis(settings), WorkerDirectory(celery), waits)

    def close(self) -> None:
        """Close every Redis connection these services hold (see `close_connections`)."""
        self.workers.close()
        self.redis.close()
        close_connections(self.celery)


def services() -> Services:
    """The Services of the app handling the current request."""
    return current_app.extensions[EXTENSION_KEY]
