"""Pub/sub subscriptions for long-polls, on one reused connection per thread.

A fresh ``client.pubsub()`` per long-poll costs a TCP connect, a HELLO and a disconnect: more
than the whole wait for an add that finishes in a millisecond. Here each thread keeps one
pub/sub connection per Redis client and only subscribes and unsubscribes on it. The
subscription is confirmed before the caller reads the key it guards, so a result stored in
between is always heard (the publish cannot overtake the subscribe).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from redis.client import PubSub

from workflows.redis_client import OUTAGE_ERRORS, REDIS_ERRORS

__all__ = ["Subscription", "subscribed"]

_local = threading.local()


def _thread_pubsubs() -> weakref.WeakKeyDictionary[redis.Redis, PubSub]:
    cache = getattr(_local, "pubsubs", None)
    if cache is None:
        cache = _local.pubsubs = weakref.WeakKeyDictionary()
    return cache


class Subscription:
    """Messages published on one channel, skipping what the connection still holds from
    earlier subscriptions (late messages, unsubscribe confirmations)."""

    def __init__(self, pubsub: PubSub, channel: str) -> None:
        self._pubsub = pubsub
        self._channel = channel.encode()

    def _next(self, kind: str, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            message = self._pubsub.get_message(timeout=remaining)
            if message is None:
                continue  # a health-check reply, or nothing yet
            if message["type"] == kind and message["channel"] == self._channel:
                return message["data"]
        return None

    def confirmed(self, timeout: float) -> bool:
        """Wait for Redis to confirm the subscription."""
        return self._next("subscribe", timeout) is not None

    def next_message(self, timeout: float) -> bytes | None:
        """The next payload published on the channel, or None after ``timeout`` seconds."""
        return self._next("message", timeout)


def _subscribe(pubsub: PubSub, channel: str, timeout: float) -> Subscription:
    """Subscribe and wait for Redis's confirmation, as long as any command's reply is waited
    for (the client's read timeout), not the caller's whole wait: a Redis that accepts
    connections but does not answer would otherwise hold a ``?wait=30`` for 30 s before its
    503. A confirmation that has not come by then is a timeout, like any other read's."""
    pubsub.subscribe(channel)
    subscription = Subscription(pubsub, channel)
    read_timeout = pubsub.connection_pool.connection_kwargs.get("socket_timeout") or timeout
    within = min(timeout, read_timeout)
    if not subscription.confirmed(within) and within < timeout:
        raise redis.TimeoutError(f"Redis did not confirm a subscription within {within:g} s")
    return subscription


def _kept_or_new(
    client: redis.Redis, kept: PubSub | None, channel: str, timeout: float
) -> tuple[PubSub, Subscription]:
    """Subscribe the kept connection, or a new one if the kept one died; close what fails."""
    if kept is not None:
        try:
            return kept, _subscribe(kept, channel, timeout)
        except redis.ConnectionError:
            kept.close()
        except BaseException:
            kept.close()
            raise
    pubsub = client.pubsub()
    try:
        return pubsub, _subscribe(pubsub, channel, timeout)
    except BaseException:
        pubsub.close()
        raise


@contextmanager
def subscribed(client: redis.Redis, channel: str, timeout: float) -> Iterator[Subscription]:
    """Subscribe this thread's pub/sub connection to ``channel`` (confirmed, within
    ``timeout``) for the duration of the block.

    A kept connection may have died with a Redis that restarted while it idled. redis-py 8.2
    retries the subscribe, but not the health-check PING its pub/sub sends before reading
    (``PubSub.check_health``, redis-py#3613), so such a connection is replaced once by a new
    one. After a Redis error the connection is closed and forgotten, so the next call starts
    afresh. The block's other errors (an add refused over the rate limit) do not touch the
    connection: it is kept, so a client refused again and again does not cost a new connection
    each time.
    """
    cache = _thread_pubsubs()
    pubsub, subscription = _kept_or_new(client, cache.pop(client, None), channel, timeout)
    try:
        yield subscription
    except Exception as error:
        _release(cache, client, pubsub, channel, not isinstance(error, OUTAGE_ERRORS))
        raise
    except BaseException:
        pubsub.close()
        raise
    _release(cache, client, pubsub, channel, True)


def _release(
    cache: weakref.WeakKeyDictionary[redis.Redis, PubSub],
    client: redis.Redis,
    pubsub: PubSub,
    channel: str,
    sound: bool,
) -> None:
    """Unsubscribe a ``sound`` connection and keep it for the thread's next wait; close one
    that may be broken, or that fails to unsubscribe. Never raises: the wait's own outcome,
    a result or an error, is what the caller reports."""
    if sound:
        try:
            pubsub.unsubscribe(channel)  # its confirmation is skipped by the next subscription
        except REDIS_ERRORS:
            sound = False
    if sound:
        cache[client] = pubsub
    else:
        pubsub.close()
