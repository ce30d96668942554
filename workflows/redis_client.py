"""The Redis client sumflow's own code uses: short timeouts so callers fail fast, one retry.

Importing this module also makes the error replies of a Redis that is up but cannot serve
right now (`UNAVAILABLE_REPLIES`) connection errors, for every client in the process.
"""

from __future__ import annotations

import redis
from kombu.exceptions import OperationalError
from redis._parsers.base import BaseParser
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry

from config import Settings
from config.redis_tls import redis_ssl_options

__all__ = ["OUTAGE_ERRORS", "REDIS_ERRORS", "REFUSALS", "UNAVAILABLE_REPLIES", "create_redis"]

#: What a Redis outage looks like to callers, whichever client noticed it.
REDIS_ERRORS: tuple[type[Exception], ...] = (redis.exceptions.RedisError, OSError)

#: The same, where Celery or kombu talked to Redis: kombu reports its Redis errors (a failed
#: publish, a broadcast inspect) as its own OperationalError.
OUTAGE_ERRORS: tuple[type[Exception], ...] = (*REDIS_ERRORS, OperationalError)


class RedisOutOfMemory(redis.exceptions.OutOfMemoryError, RedisConnectionError):
    """``-OOM``: maxmemory reached under ``noeviction``; writes are refused until memory frees."""


class RedisReadOnly(redis.exceptions.ReadOnlyError, RedisConnectionError):
    """``-READONLY``: the server became a replica (a failover); a new connection may reach the
    new primary."""


class RedisMasterDown(redis.exceptions.MasterDownError, RedisConnectionError):
    """``-MASTERDOWN``: a replica that lost its primary and serves no stale data."""


class RedisRefusing(redis.exceptions.ResponseError, RedisConnectionError):
    """``-MISCONF`` (snapshots failing, writes refused), ``-BUSY`` (a script runs past
    busy-reply-threshold) or ``-UNBLOCKED`` (a blocked BRPOP cut off by a switch to replica)."""


#: Error replies of a Redis that is up but cannot serve now, as connection errors: each a
#: subclass of redis-py's own class too, so code that catches that one still does. redis-py
#: 8.2 raises them as ResponseErrors (OOM, READONLY and MASTERDOWN as its own subclasses of
#: it), which every layer takes for a bug in the command: kombu's consumer exited the worker
#: for good on a refused BRPOP or acknowledgement, Celery failed an add whose sum could not be
#: stored (or left it STARTED), and the beat exited. As connection errors they get the handling
#: a Redis outage gets: the worker reconnects and requeues, the result is stored once Redis
#: accepts it, the beat waits, the API answers 503.
#: (LOADING, NOAUTH and WRONGPASS are connection errors in redis-py already.)
UNAVAILABLE_REPLIES: dict[str, type[RedisConnectionError]] = {
    "OOM": RedisOutOfMemory,
    "READONLY": RedisReadOnly,
    "MASTERDOWN": RedisMasterDown,
    "MISCONF": RedisRefusing,
    "BUSY": RedisRefusing,
    "UNBLOCKED": RedisRefusing,
}
# redis-py 8.2 maps error replies to classes in one table of its private parser base class,
# shared by every parser (hiredis's and redis-py's own), and so by every client.
BaseParser.EXCEPTION_CLASSES.update(UNAVAILABLE_REPLIES)

#: A Redis that answers but refuses: those replies, and LOADING. Their messages are Redis's
#: own ("command not allowed when used memory > 'maxmemory'") and name no address.
REFUSALS: tuple[type[Exception], ...] = (
    *dict.fromkeys(UNAVAILABLE_REPLIES.values()),
    redis.exceptions.BusyLoadingError,
)


def create_redis(settings: Settings, *, decode_responses: bool = False) -> redis.Redis:
    """A pooled client. One immediate retry replaces a connection that went stale while Redis
    restarted; a Redis that is really down answers an error within about two timeouts. A
    timeout is not retried: a Redis that accepts connections but does not answer (stopped,
    swapping, a half-open link) would otherwise cost twice as long.

    ``decode_responses`` gives str replies, as RedBeat's code expects of its client."""
    timeout = settings.redis_timeout_seconds
    return redis.Redis.from_url(
        settings.redis_url,
        socket_connect_timeout=timeout,
        socket_timeout=timeout * 2,
        socket_keepalive=True,
        health_check_interval=25,
        retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
        decode_responses=decode_responses,
        **redis_ssl_options(settings),
    )
