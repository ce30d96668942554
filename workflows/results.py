"""Reading task state straight from the result backend's keys: one round trip per read.

`read_task` answers None for an id this service never issued; `wait_for_task` long-polls by
subscribing to the channel the backend publishes every state change on, so a waiting client
hears the result the moment it is stored instead of polling (`workflows.listener`), and
`submit_and_wait` subscribes before the task is even queued. `end_waits` ends every wait of
the process at once, for a web server that is stopping.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from celery import states

from workflows.listener import Subscription, subscribed
from workflows.redis_client import REDIS_ERRORS
from workflows.registry import issued_key

__all__ = [
    "TaskView",
    "describe_error",
    "end_waits",
    "meta_key",
    "present",
    "read_metas",
    "read_task",
    "submit_and_wait",
    "wait_for_task",
]

logger = logging.getLogger(__name__)

#: The key prefix of Celery's Redis result backend (``task_keyprefix``, Celery 5.7).
META_PREFIX = "celery-task-meta-"


#: Set once this process stops: no wait holds its request any longer (`end_waits`).
_waits_ended = threading.Event()


def end_waits() -> None:
    """End every wait of this process within a second, and let none begin: each answers with
    its task as it stands, as if its time had run out.

    For a web server that is stopping (`api.serve`): it lets running requests finish before it
    stops, but kills what still runs after a few seconds, and a wait of up to 30 s would be
    cut with its connection closed, the client of a ``Prefer: wait`` POST never told the id of
    the add it queued. Ended, the wait is answered, and its client asks the next server.
    """
    _waits_ended.set()


def meta_key(task_id: str) -> str:
    return META_PREFIX + task_id


@dataclass(frozen=True, slots=True)
class TaskView:
    """What a client sees of a task: the study guide's ``status`` and ``result``."""

    status: str
    result: Any

    @property
    def ready(self) -> bool:
        return self.status in states.READY_STATES


def describe_error(value: Any) -> str:
    """A readable one-line message from a stored exception (``Type: message``)."""
    if isinstance(value, dict) and "exc_type" in value:
        message = value.get("exc_message")
        if isinstance(message, list | tuple):
            message = ", ".join(str(part) for part in message)
        return f"{value['exc_type']}: {message}" if message else str(value["exc_type"])
    return str(value)


def present(meta: dict[str, Any] | None) -> TaskView:
    """Map a stored result-backend record to the client's view of it."""
    if meta is None:
        return TaskView(states.PENDING, None)
    status = meta.get("status", states.PENDING)
    if status == states.SUCCESS:
        return TaskView(status, meta.get("result"))
    if status in (states.FAILURE, states.RETRY, states.REVOKED):
        return TaskView(status, describe_error(meta.get("result")))
    return TaskView(status, None)


def _decode(payload: bytes | str | None) -> dict[str, Any] | None:
    return None if payload is None else json.loads(payload)


def read_metas(client: redis.Redis, task_ids: Sequence[str]) -> list[dict[str, Any] | None]:
    """The stored record of every task (None where nothing is stored yet), in one MGET."""
    if not task_ids:
        return []
    return [_decode(payload) for payload in client.mget([meta_key(t) for t in task_ids])]


def read_task(client: redis.Redis, task_id: str) -> TaskView | None:
    """The task's view, or None if this service never issued ``task_id``."""
    # One MGET answers both questions (one command, where EXISTS + GET were two).
    payload, issued = client.mget([meta_key(task_id), issued_key(task_id)])
    if issued is None and payload is None:
        return None
    return present(_decode(payload))


def _until_ready(
    client: redis.Redis, subscription: Subscription, task_id: str, view: TaskView, deadline: float
) -> TaskView | None:
    """Follow the task's published states until it is done or ``deadline`` (monotonic) passes.
    Without a message for a second it reads again, in case a publish was lost with a connection.
    `end_waits` stops it at the next of those seconds.
    """
    current: TaskView | None = view
    while current is not None and not current.ready and not _waits_ended.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        payload = subscription.next_message(min(remaining, 1.0))
        current = read_task(client, task_id) if payload is None else present(_decode(payload))
    return current


def wait_for_task(client: redis.Redis, task_id: str, timeout: float) -> TaskView | None:
    """Like `read_task`, but hold on up to ``timeout`` seconds for the task to finish.

    It subscribes before it reads, so one read serves both the task that is already done
    and the one still running; the latter is then woken by the result's publish.
    """
    if timeout <= 0:
        return read_task(client, task_id)
    deadline = time.monotonic() + timeout
    with subscribed(client, meta_key(task_id), timeout) as subscription:
        view = read_task(client, task_id)
        if view is None:
            return None
        return _until_ready(client, subscription, task_id, view, deadline)


def submit_and_wait(
    client: redis.Redis, task_id: str, timeout: float, submit: Callable[[], object]
) -> TaskView:
    """Call ``submit``, which queues task ``task_id``, and hold on up to ``timeout`` seconds for
    the task to finish.

    Subscribed before the task exists, it cannot miss the result's publish, so unlike
    `wait_for_task` it needs no first read: one round trip fewer. Once ``submit`` has
    returned the task is queued, so losing Redis during the wait ends the wait, not the
    answer: the caller gets PENDING and can hand out the id, rather than an error that would
    have its client submit the add again.
    """
    deadline = time.monotonic() + timeout
    queued = False
    try:
        with subscribed(client, meta_key(task_id), timeout) as subscription:
            submit()
            queued = True
            view = _until_ready(client, subscription, task_id, present(None), deadline)
    except REDIS_ERRORS as exc:
        if not queued:
            raise
        # Caught outside the subscription, so that `subscribed` closes a connection that
        # may be broken instead of keeping it for the thread's next wait.
        logger.warning("lost Redis while waiting for %s, which is queued: %s", task_id, exc)
        view = None
    return view or present(None)
