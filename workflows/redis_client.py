"""The Redis client sumflow's own code uses: short timeouts so callers fail fast, one retry."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from config import Settings
from config.redis_tls import redis_ssl_options

__all__ = ["REDIS_ERRORS", "create_redis"]

#: What a Redis outage looks like to callers, whichever client noticed it.
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)


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
