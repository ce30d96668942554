"""kombu's Redis transport, fixed so that a worker survives Redis going away mid-task, and
reusing its Redis client instead of building one per command.

When the broker connection breaks while a BRPOP is in flight and the worker holds
unacknowledged messages (any running ``acks_late`` task), kombu 5.7 closes the channel twice:
the first ``Channel.close()`` tries to read the pending BRPOP reply, gets ConnectionError and
stops before marking the channel closed; the second runs after the connection was detached
from its transport and fails with ``AttributeError: 'NoneType' object has no attribute
'hostname'``, which Celery treats as unrecoverable: the worker shuts down instead of
reconnecting. (tests/integration/test_redis_outage.py restarts Redis under a running add.)

The fix: a dead connection has no BRPOP reply to read, so close the channel anyway, and
disconnect its pool even though kombu's close stopped at its first failed command (without
that, every Redis restart left the worker a few more sockets in CLOSE-WAIT). The
unacknowledged messages it could not restore stay in Redis's ``unacked`` hash; the worker
requeues them when it reconnects (`workflows.requeue`), and any worker would after the
visibility timeout. Selected by ``broker_transport`` in
`config.celery_config`; it speaks redis:// and rediss:// like the stock transport.

A run that ends after its worker lost Redis is acknowledged (or rejected) on the closed
channel that delivered it, where kombu 5.7 raised AttributeError and Celery stopped the
worker; here the channel leaves such a message to that requeue (`Channel.forgo`).

Speed: kombu 5.7's channel creates a new ``redis.Redis`` object (sharing the channel's
connection pool) for every publish, acknowledgement and queue lookup (``conn_or_acquire`` calls
``_create_client``): about 80 µs of Python each time, some 12% of a ``.delay()``. A
``redis.Redis`` is thread-safe and holds no state besides its pool, so one per channel and pool
does the same work (make bench: ``submit_add`` 437 -> 337 µs of CPU).

Refusals: kombu 5.7's pooled producer replaces its connection after any exception in its block
(``Producer.__exit__``), so a gate's refusal raised from the publish cost two new Redis
connections (and some 3 ms) per refused add. `pooled_producer` keeps the connection when the
exception is the gate's own: its reply was read in full, and the connection is as good as
before.

Round trips: `written_with_publish` lets a submission send its own writes (the issued-id
marker) in the publish's pipeline, and a `PublishGate` (the rate limiter's count) decide in that
same round trip whether the message is queued at all, and the writes with it. In the web
process a round trip costs far more than its Python: each one releases and retakes the GIL
among the server's threads (make bench: one extra PING per POST lowered throughput by 7-14%).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from kombu import Producer
from kombu.transport import redis as kombu_redis

from workflows.requeue import note_unrestored

__all__ = [
    "Channel",
    "PublishGate",
    "Transport",
    "give_up_on_a_frozen_redis",
    "pooled_producer",
    "written_with_publish",
]

_local = threading.local()
logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PublishGate:
    """A Lua script that runs in place of a message's LPUSH, in the same round trip, and pushes
    the message only if it agrees.

    The script gets ``KEYS = keys + [queue]`` and ``ARGV = args + [message] + commands``: the
    commands written with the publish, each as its number of words and then its words. If
    it agrees it runs them and then pushes the message; if not, it does neither, so a refused
    publish leaves nothing behind. ``check`` gets its reply and raises to refuse the publish.
    """

    script: str
    keys: Sequence[str]
    args: Sequence[Any]
    check: Callable[[Any], None]


@contextmanager
def written_with_publish(
    *commands: tuple[Any, ...], gate: PublishGate | None = None
) -> Iterator[None]:
    """Send ``commands`` to Redis in the same round trip as each message this thread publishes
    inside the block, ahead of the message's LPUSH; with a ``gate``, its script does the push.

    Redis runs a pipeline's commands in order, so the commands hold before any worker can take
    the message, at the cost of one round trip instead of two. With a gate they are sent to
    its script, and run only if it pushes the message. A publish that kombu retries sends them
    again: they must be idempotent (a SET is), and a gate counts twice.
    """
    _local.commands, _local.gate, _local.refusal = commands, gate, None
    try:
        yield
    finally:
        _local.commands, _local.gate, _local.refusal = (), None, None


@contextmanager
def pooled_producer(app: Celery) -> Iterator[Producer]:
    """A producer from ``app``'s pool for ``apply_async(producer=...)``, whose connection
    outlives a `PublishGate`'s refusal; after any other error it is replaced, as kombu does."""
    producer = app.producer_pool.acquire(block=True)
    try:
        yield producer
    except BaseException as error:
        if error is getattr(_local, "refusal", None):
            producer.release()
        else:
            producer.__exit__(type(error), error, error.__traceback__)
        raise
    producer.release()


def give_up_on_a_frozen_redis(error: Exception, interval: float) -> None:
    """The publish retry's errback: stop once a new connection's first command timed out.

    A failed publish is retried on a new connection, which kombu checks with a PING and, if
    that fails, tries again after ``interval``. A PING that times out (``interval > 0``: kombu
    is about to reconnect) means Redis accepts connections but does not answer: frozen, or the
    path to it cut. Trying again would keep the caller another REDIS_TIMEOUT_SECONDS for the
    same answer (3.1 s in all for a POST /add, 2.1 s now). A refused connection, a restarting
    Redis, is retried as before, and so is the publish itself (``interval == 0``), whose
    pooled connection may be the only thing that went bad.
    """
    if interval and isinstance(error, redis.TimeoutError):
        raise error


class Channel(kombu_redis.Channel):
    _shared_client: redis.Redis | None = None
    #: Set when the channel closed because Redis went away: what it held is noted for
    #: `workflows.requeue`, which puts it back in its queue once the worker reconnects.
    lost_redis = False

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:  # the consumer's own client (BRPOP, event loop): kombu's as it is
            return super()._create_client(asynchronous=True)
        client = self._shared_client
        if client is None or client.connection_pool is not self.pool:  # a new pool after reset
            client = self._shared_client = super()._create_client()
        return client

    def _put(self, queue: str, message: Any, **kwargs: Any) -> None:
        commands = getattr(_local, "commands", ())
        gate: PublishGate | None = getattr(_local, "gate", None)
        if not commands and gate is None:
            super()._put(queue, message, **kwargs)
            return
        plain = "_publish_batch" not in kwargs and not (self._expires and queue in self._expires)
        if gate is not None and not plain:
            raise ValueError("a gated publish must be a single message to a plain queue")
        with self.conn_or_acquire() as client:
            if gate is not None:  # one script: the commands and the push, or neither
                reply = client.eval(*self._gated(gate, queue, message, commands))
                try:
                    gate.check(reply)
                except Exception as refusal:
                    _local.refusal = refusal  # for pooled_producer: not a connection's fault
                    raise
                return
            with client.pipeline(transaction=False) as pipe:
                for command in commands:
                    pipe.execute_command(*command)
                if plain:  # the stock _put's own case: one LPUSH
                    pipe.lpush(self._key(queue, message), kombu_redis.dumps(message))
                pipe.execute()
        if not plain:  # batches and expiring queues: kombu's way, just after the commands
            super()._put(queue, message, **kwargs)

    def _key(self, queue: str, message: Any) -> str:
        """The Redis list a message goes to, as kombu 5.7's own ``_put`` picks it."""
        return self._q_for_pri(queue, self._get_message_priority(message, reverse=False))

    def create_publish_batch(self, max_size: int) -> Any:
        """kombu's publish batch, sent as one MULTI/EXEC transaction per flush.

        kombu 5.7 pipelines a batch without a transaction (``PublishBatch``), so Redis runs
        each LPUSH as it arrives: a connection lost part way leaves the messages before the
        break queued, and the client that was told the publish failed sends them again. Inside
        MULTI, Redis runs nothing until EXEC arrives, so a flush is queued whole or not at all.
        """
        batch = super().create_publish_batch(max_size)
        batch.pipeline.transaction = True
        return batch

    def _gated(
        self, gate: PublishGate, queue: str, message: Any, commands: Sequence[tuple[Any, ...]]
    ) -> list[Any]:
        """The EVAL arguments that run ``gate``'s script on one message (see `PublishGate`).

        EVAL, not EVALSHA: a restarted Redis forgets loaded scripts, and EVALSHA would then
        need a second round trip; the script is a few hundred bytes.
        """
        words = [word for command in commands for word in (len(command), *command)]
        keys = [*gate.keys, self._key(queue, message)]
        return [gate.script, len(keys), *keys, *gate.args, kombu_redis.dumps(message), *words]

    def close(self) -> None:
        if self._in_poll and not self.closed:
            try:
                self._brpop_read()
            except kombu_redis.Empty:
                pass
            except self.connection_errors:
                pass  # the connection is gone, and the reply with it; _in_poll is reset
        try:
            super().close()
        except self.connection_errors:
            # kombu could not put back the messages this channel held: requeue them once the
            # worker has reconnected, not after the visibility timeout (workflows.requeue).
            qos = self._qos
            if qos is not None:
                note_unrestored({t: m for t, m in qos._delivered.items() if t not in qos._dirty})
            self.lost_redis = True
            # kombu's close stops at its first failed command (deleting the channel's fanout
            # queues, such as the worker's pidbox) before it disconnects the channel's pool:
            # each Redis restart left the worker with sockets in CLOSE-WAIT, inherited by
            # every pool process forked after it. Disconnecting needs no answer from Redis.
            self._disconnect_pools()
            self._close_clients()
            raise

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        """kombu's, except on a channel that lost Redis (see `forgo`)."""
        if self.lost_redis:
            self.forgo(delivery_tag)
            return
        super().basic_ack(delivery_tag, multiple)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        """kombu's, except on a channel that lost Redis (see `forgo`)."""
        if self.lost_redis:
            self.forgo(delivery_tag)
            return
        super().basic_reject(delivery_tag, requeue=requeue)

    def forgo(self, delivery_tag: str) -> None:
        """Leave a message that this channel held when Redis went away to the requeue.

        A run that ends after its worker lost Redis is acknowledged on the channel that
        delivered it, which is closed by then: kombu 5.7 looked for the closed connection's
        address and raised AttributeError, and Celery stopped the worker ("Unrecoverable
        error"). The message was noted when the channel closed and goes back to its queue when
        the worker reconnects, so there is nothing left to do here: the task runs again.
        """
        qos = self._qos
        message = qos._delivered.get(delivery_tag) if qos is not None else None
        headers = getattr(message, "headers", None) or {}
        name, task_id = headers.get("task", "message"), headers.get("id", delivery_tag)
        logger.warning(
            "task %s[%s] ended after its worker lost Redis: its message goes back to the "
            "queue, and it runs again",
            name,
            task_id,
            extra={"task_id": task_id, "task_name": name},
        )


class Transport(kombu_redis.Transport):
    Channel = Channel
