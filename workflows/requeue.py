"""Messages a worker held when it lost Redis go back to their queue as soon as it reconnects,
not after the visibility timeout.

A worker holds a message unacknowledged while it runs the task (``acks_late``) or waits for
its countdown. When the connection breaks, Celery stops the running tasks
(``worker_cancel_long_running_tasks_on_connection_loss``) and forgets the countdowns, leaving
the messages for the broker to deliver again. RabbitMQ does that at once. On Redis, kombu
puts a channel's messages back when the channel closes, but here the close fails, since
Redis is what went away; the messages stay in kombu's ``unacked`` hash until a worker's sweep
finds them older than VISIBILITY_TIMEOUT_SECONDS (600 s by default).

So the channel notes what it could not put back (`workflows.broker.Channel.close`), and once
the worker has reconnected this consumer step finishes kombu's restore. It uses kombu's
``restore_by_tag``, as the sweep does, which moves a message out of the hash under WATCH:
whichever gets there first requeues it, and the other finds nothing. A worker that dies
instead of reconnecting leaves its messages to the visibility timeout, as before.

The runs the worker stopped are announced here too, just before their messages go back
(`workflows.task_request`): each stores RETRY (`RunCancelled`) once Redis can take it, and
before the next run can store STARTED.

Like kombu's restore at close, this puts back every message the channel held unacknowledged.
One that a pool process had been handed but not yet started, or had just finished, when the
connection broke may then run twice: at-least-once delivery allows it, and an add is a pure
function of its arguments.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import bootsteps
from celery.exceptions import BackendError

__all__ = ["RequeueUnrestored", "cancelled", "note_cancelled", "note_unrestored", "unrestored"]

logger = logging.getLogger(__name__)

#: Messages a closed channel held and could not put back: delivery tag to the task's name and
#: id. Per process: only a worker's consuming channels hold any.
unrestored: dict[str, tuple[str, str]] = {}


#: Runs stopped when the worker lost Redis: task id to what stores and signals their RETRY
#: (`workflows.task_request`), done on the next connection, before the requeue.
cancelled: dict[str, Callable[[], None]] = {}


def note_cancelled(task_id: str, announce: Callable[[], None]) -> None:
    """Have ``announce`` called once the worker has reconnected, before the requeue."""
    cancelled[task_id] = announce


def note_unrestored(delivered: dict[str, Any]) -> None:
    """Remember ``delivered`` (kombu's delivery tag to message) for the next connection."""
    for tag, message in delivered.items():
        headers = getattr(message, "headers", None) or {}
        unrestored[tag] = (headers.get("task", "message"), headers.get("id", tag))


class RequeueUnrestored(bootsteps.StartStopStep):
    """A consumer step: on every connection, announce the runs the last one stopped, then
    requeue what it could not put back.

    It starts once the connection is up and before the event loop, which Celery always starts
    last, so the messages are in their queues before this worker reads from them again.
    """

    requires = ("celery.worker.consumer.connection:Connection",)

    def start(self, c: Any) -> None:
        self._announce_cancelled()
        if not unrestored:
            return
        channel = c.connection.default_channel
        qos = channel.qos
        # Each goes to the head of its queue, where it was: the last one first keeps the order.
        # A connection error in here: Celery reconnects, and this step tries again. Not
        # ``channel.client``: that is the consumer's own connection, where a BRPOP may wait.
        for tag, (name, task_id) in reversed(list(unrestored.items())):
            with channel.conn_or_acquire() as client:
                held = client.hexists(qos.unacked_key, tag)  # for the log line only
                qos.restore_by_tag(tag, client=client)
            del unrestored[tag]
            fields = {"task_id": task_id, "task_name": name}  # LOG_FORMAT=json's own fields
            if held:
                logger.info(
                    "task %s[%s] requeued: its worker lost Redis while holding it",
                    name,
                    task_id,
                    extra=fields,
                )
            else:
                logger.warning(
                    "task %s[%s] not requeued: Redis no longer holds its message (another "
                    "worker requeued it, or Redis restarted without persistence)",
                    name,
                    task_id,
                    extra=fields,
                )

    def _announce_cancelled(self) -> None:
        """Store RETRY for each run stopped on the lost connection, before its message is back
        in its queue: stored after the next run's STARTED, it would hide that run.

        Redis has just answered. Should it go away again, the store waits for it as any
        result's store does; one given up after the backend's retries is logged and dropped,
        and the message is requeued all the same.
        """
        for task_id, announce in list(cancelled.items()):
            try:
                announce()
            except BackendError as error:
                logger.warning("task %s: its RETRY could not be stored: %s", task_id, error)
            del cancelled[task_id]
