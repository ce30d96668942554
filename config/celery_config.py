"""The Celery settings dict, derived from Settings: one place for every Celery and RedBeat knob."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from kombu import Queue

from config.logging_config import TASK_TEXT_FORMAT, TEXT_FORMAT
from config.redis_tls import redis_ssl_options
from config.settings import Settings

__all__ = ["celery_config", "REDBEAT_KEY_PREFIX"]

REDBEAT_KEY_PREFIX = "sumflow:redbeat:"


def _broker_socket_options(settings: Settings) -> dict[str, Any]:
    """Socket options for the broker's connections: fail fast, notice dead peers.

    A read timeout too: without one, a Redis that accepts connections but does not answer
    (stopped, swapping, a half-open link) holds a publish, and the web thread making it,
    for as long as it lasts. Workers read their queues only once the socket is readable,
    so the timeout does not cut their blocking BRPOP short. Timeouts are not retried.
    """
    return {
        "socket_connect_timeout": settings.redis_timeout_seconds,
        "socket_timeout": settings.redis_timeout_seconds,
        "socket_keepalive": True,
        "health_check_interval": 25,
    }


def _credentials_apart(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its user and password, and those as redis-py keyword arguments.

    For RedBeat: Celery 5.7 masks the password of broker_url and result_backend, and any
    setting named like a secret, wherever it shows its settings (``celery inspect conf``,
    Flower's Config tab, ``celery report``: ``filter_hidden_settings``), but showed
    redbeat_redis_url as it is. In
    redbeat_redis_options the password sits under a key named ``password``, which it masks."""
    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url, {}
    credentials = {
        name: unquote(value)
        for name, value in (("username", parts.username), ("password", parts.password))
        if value
    }
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host)), credentials


def celery_config(settings: Settings) -> dict[str, Any]:
    """Return Celery's configuration for these settings (lower-case Celery 5 names)."""
    redbeat_url, redbeat_credentials = _credentials_apart(settings.redis_url)
    conf: dict[str, Any] = {
        # One Redis for everything: broker, results and the RedBeat store.
        "broker_url": settings.redis_url,
        # kombu's Redis transport with sumflow's changes (workflows/broker.py): a worker
        # outlives a Redis restart mid-task, a publish is one round trip, a group all or none.
        "broker_transport": "workflows.broker:Transport",
        # Celery's Redis result backend with sumflow's changes (workflows/backend.py: no
        # SUBSCRIBE per publish, readable cancelled runs, chains that end clearly).
        "result_backend": f"workflows.backend:ResultBackend+{settings.redis_url}",
        # JSON only: never unpickle data that came over the network.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        # STARTED is visible to clients while the worker runs the task.
        "task_track_started": True,
        # Results live this long; issued ids and revokes are kept just as long (workflows.registry).
        "result_expires": settings.result_expires_seconds,
        # At-least-once delivery. The add task is a pure function of its arguments, so a
        # redelivered message computes the same sum again: re-runs are harmless.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # One message reserved per pool slot: a busy worker does not hoard work another could do.
        "worker_prefetch_multiplier": 1,
        "broker_transport_options": {
            **_broker_socket_options(settings),
            # Unacknowledged messages return to the queue after this long (a dead worker's tasks).
            "visibility_timeout": settings.visibility_timeout_seconds,
            # Sweep for abandoned messages often enough to honour a short visibility timeout.
            "unacked_restore_interval": max(1, min(10, settings.visibility_timeout_seconds // 4)),
            "unacked_restore_throttle": 1,
        },
        # The result backend takes its socket options from the redis_* settings, not from
        # result_backend_transport_options (Celery 5.7 reads no socket option there: only a
        # retry policy, chord ordering, extra error classes and a key prefix).
        "redis_socket_connect_timeout": settings.redis_timeout_seconds,
        # Celery 5.7's default is 120 s: a worker storing a result into a Redis that does not
        # answer would wait that long before result_backend_always_retry could act.
        "redis_socket_timeout": settings.redis_timeout_seconds * 2,
        # A worker keeps trying to store a result while Redis restarts rather than losing it.
        # Each of these 20 tries is itself the backend's loop of 20 tries a second apart (its
        # "Retry (17/20)" lines), with growing pauses between: a store gives up after some
        # 7.6 minutes of a stopped Redis (measured). No store waits on an outage the worker
        # has noticed: it stops its running adds at once (workflows/task_request.py).
        "result_backend_always_retry": True,
        "result_backend_max_retries": 20,
        # The web process must answer quickly when Redis is down: one quick retry, then 503.
        "task_publish_retry": True,
        "task_publish_retry_policy": {
            "max_retries": 1,
            "interval_start": 0.1,
            "interval_step": 0.2,
            "interval_max": 0.3,
        },
        # Workers, on the other hand, wait for Redis for as long as it takes, trying again
        # every 2 s rather than kombu's growing pauses of up to 30 s (workflows/consumer.py).
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "worker_consumer": "workflows.consumer:Consumer",
        # Explicit queues: a task routed to an unknown queue fails loudly instead of vanishing.
        "task_queues": [Queue(name, routing_key=name) for name in settings.queues],
        "task_default_queue": settings.default_queue,
        "task_default_routing_key": settings.default_queue,
        "task_create_missing_queues": False,
        "task_routes": {"sumflow.*": {"queue": settings.default_queue}},
        # prefork is Celery's, mended to survive a reconnect just after a run was stopped.
        "worker_pool": (
            "workflows.prefork:TaskPool"
            if settings.worker_pool == "prefork"
            else settings.worker_pool
        ),
        "worker_concurrency": settings.worker_concurrency,
        # Task events (three PUBLISHes and an event dispatch per task) are off: make bench
        # measured them at 15-18% of end-to-end throughput and 0.5 ms of single-add latency.
        # Flower and `celery -A workflows control enable_events` turn them on at run time when
        # someone watches; `celery -A workflows worker -E` starts a worker with them on.
        "worker_send_task_events": False,
        "task_send_sent_event": False,
        # The worker and the beat log as the API does (LOG_FORMAT=text): one layout for every
        # process, where Celery's own ("[time: INFO/ForkPoolWorker-1] message") named no logger.
        "worker_log_format": TEXT_FORMAT,
        "worker_task_log_format": TASK_TEXT_FORMAT,
        # RedBeat: entries in the same Redis under our own prefix; the beat wakes at least
        # every second so a new or changed entry takes effect promptly. The URL's password
        # goes in the options, where Celery masks it when it shows the settings.
        "redbeat_redis_url": redbeat_url,
        "redbeat_redis_options": {
            **redbeat_credentials,
            "socket_connect_timeout": settings.redis_timeout_seconds,
            # RedBeat retries a call that could not connect or timed out, backing off, for up
            # to 30 s: the beat rides out a Redis restart instead of failing on its next tick.
            "retry_period": 30,
        },
        "redbeat_key_prefix": REDBEAT_KEY_PREFIX,
        # The scheduler `celery -A workflows beat` runs without -S. Celery's default keeps a
        # local file and never sees sumflow's schedules; this one is made resilient as the
        # beat starts (schedules.beat), as with -S redbeat.RedBeatScheduler.
        "beat_scheduler": "redbeat.RedBeatScheduler",
        "redbeat_lock_timeout": settings.beat_lock_timeout_seconds,
        "beat_max_loop_interval": 1,
        # Loaded by worker and beat at start: the beat records each scheduled run it sends,
        # and the worker drops a run whose schedule was deleted since it was sent.
        "imports": ("schedules.beat", "schedules.stale_runs"),
    }
    # rediss://: the same TLS options for the broker, the result backend and RedBeat (which
    # would otherwise fall back to broker_use_ssl, and the backend refuses to start without).
    ssl_options = redis_ssl_options(settings)
    if ssl_options:
        conf["broker_use_ssl"] = ssl_options
        conf["redis_backend_use_ssl"] = ssl_options
        conf["redbeat_redis_use_ssl"] = ssl_options
    return conf
