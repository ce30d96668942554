"""The Celery application factory: configuration from `config`, then tasks, steps and signals."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from celery import Celery

from config import Settings, load_settings
from config.celery_config import celery_config
from workflows.broker import give_up_on_a_frozen_redis
from workflows.requeue import RequeueUnrestored
from workflows.shared_settings import PublishSharedSettings

__all__ = ["SumflowCelery", "close_connections", "create_celery"]


class SumflowCelery(Celery):
    """A Celery app that carries the sumflow Settings it was built from."""

    settings: Settings

    @cached_property
    def Beat(self) -> Any:
        """``celery beat``'s application: Celery's, with a start that fails in one log line
        and exit status 1 (`schedules.beat_service`, named by its path as `config` names
        `schedules.beat`: imports go the other way)."""
        return self.subclass_with_self("schedules.beat_service:Beat")


def create_celery(settings: Settings | None = None) -> SumflowCelery:
    """Build a Celery app for ``settings`` (default: from the environment)."""
    settings = settings or load_settings()
    app = SumflowCelery("sumflow", set_as_current=False)
    app.settings = settings
    app.conf.update(celery_config(settings))
    # A publish into a Redis that does not answer gives up after one timed-out reconnection.
    app.conf.task_publish_retry_policy = {
        **app.conf.task_publish_retry_policy,
        "errback": give_up_on_a_frozen_redis,
    }
    # What a worker held when it lost Redis is requeued when it reconnects (workflows.requeue).
    app.steps["consumer"].add(RequeueUnrestored)
    # Each worker says what it holds of the settings every process must share (/health).
    app.steps["consumer"].add(PublishSharedSettings)
    # Register the shared tasks with every app we build, and the signal handlers that count
    # task outcomes, log each task sent, give pool processes their own process group and free
    # a failed task's frames when it ends (workflows.outcomes, workflows.log_setup,
    # workflows.pool_processes, workflows.tracebacks). A Redis that
    # refuses (OOM, MISCONF, READONLY, BUSY) is an outage to the worker and the beat as to
    # the API (workflows.redis_client).
    import workflows.canvas_tasks  # noqa: F401
    import workflows.log_setup  # noqa: F401
    import workflows.outcomes  # noqa: F401
    import workflows.pool_processes  # noqa: F401
    import workflows.redis_client  # noqa: F401
    import workflows.tasks  # noqa: F401
    import workflows.tracebacks  # noqa: F401

    return app


def close_connections(app: Celery) -> None:
    """Close the result backend's Redis connections now (this thread's backend: Celery keeps
    one per thread). For an app dropped before its process ends, such as a test's: the garbage
    collector would otherwise close their sockets at some later moment, with a ResourceWarning.
    The broker's connections are left alone: kombu pools them per broker URL for every app in
    the process (``kombu.pools``), and keeps them for the process's life."""
    app.backend.result_consumer.stop()
    app.backend.client.connection_pool.disconnect()
