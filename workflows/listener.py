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
    pubsub.subscribe(channel)
    subscription = Subscription(pubsub, channel)
    subscription.confirmed(timeout)
    return subscription


@contextmanager
def subscribed(client: redis.Redis, channel: str, timeout: float) -> Iterator[Subscription]:
    """Subscribe this thread's pub/sub connection to ``channel`` (confirmed, within
    ``timeout``) for the duration of the block.

    A kept connection may have died with a Redis that restarted while it idled. redis-py
    retries the subscribe, but not the health-check PING its pub/sub sends before reading
    (redis-py#3613), so such a connection is replaced once by a new one. After any other
    error the connection is closed and forgotten, so the next call starts afresh.
    """
    cache = _thread_pubsubs()
    pubsub = cache.pop(client, None)
    try:
        subscription = None
        if pubsub is not None:
            try:
                subscription = _subscribe(pubsub, channel, timeout)
            except redis.ConnectionError:
                pubsub.close()
        if subscription is None:
            pubsub = client.pubsub()
            subscription = _subscribe(pubsub, channel, timeout)
        yield subscription
        pubsub.unsubscribe(channel)  # its confirmation is skipped by the next subscription
    except BaseException:
        if pubsub is not None:
            pubsub.close()
        raise
    cache[client] = pubsub  # only a connection that worked is kept
