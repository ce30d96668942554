"""Celery's Redis result backend, without a SUBSCRIBE and UNSUBSCRIBE on every task sent.

The stock backend subscribes to each new task's result channel at publish time so that a later
``AsyncResult.get()`` in the same process can be woken. sumflow never blocks on results that
way: clients poll ``/result`` or long-poll with ``?wait``, which subscribes only when asked.
Skipping it saves two Redis commands per submission and keeps the publishing path free of a
shared pub/sub connection (which is not safe to share between the web server's threads).
``AsyncResult.get()`` still works: it subscribes for itself when it waits.
"""

from __future__ import annotations

from typing import Any

from celery.backends.redis import RedisBackend

__all__ = ["ResultBackend"]


class ResultBackend(RedisBackend):
    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Do not subscribe at publish time (see module docstring)."""
