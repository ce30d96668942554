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
    def _set(self, key: str, value: Any, expires: int | None = None) -> None:
        """Store and announce a state: Celery's own `_set` without MULTI/EXEC.

        Each state a task stores (STARTED, then SUCCESS or FAILURE) is a SET and a PUBLISH
        in one round trip. On one connection Redis runs them in order anyway, and nothing
        needs the pair atomic (a reader that sees the value before the message sees what the
        message carries), so the transaction only cost four commands per task.
        """
        if expires is None:
            expires = self.expires
        with self.client.pipeline(transaction=False) as pipe:
            pipe.set(key, value, ex=expires or None)
            pipe.publish(key, value)
            pipe.execute()

    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Do not subscribe at publish time (see module docstring)."""
