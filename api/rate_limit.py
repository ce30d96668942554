"""Rate limiting of submissions (every POST) per API key or client address, kept in Redis.

One shared budget per client across every POST endpoint, present and future, counted in the
same Redis through the API's own connection pool, so every web worker and machine shares the
count (api/rate_limit_counter.py). Every POST answer says where the client stands
(X-RateLimit-Limit, -Remaining, -Reset); over budget it is a 429 JSON with ``Retry-After``.
The limiter fails open: when Redis does not answer it lets the request through, and the
submission itself then answers 503 like any other Redis outage.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from flask import Flask, Response, g, request
from limits import parse_many

from api.auth import client_identity
from api.errors import error_body
from api.rate_limit_counter import Count, FixedWindowCounter

__all__ = ["KEY_PREFIX", "LIMITED_METHODS", "init_rate_limit"]

#: Methods that submit work, and so count against RATE_LIMIT.
LIMITED_METHODS = frozenset({"POST"})

KEY_PREFIX = "sumflow:ratelimit"

logger = logging.getLogger(__name__)

_STANDING = "sumflow_rate_limit"


def _tightest(counts: list[Count]) -> Count:
    """The limit a client is closest to (fewest left; the sooner reset on a tie)."""
    return min(counts, key=lambda c: (c.remaining, c.window.ends_at))


def _headers(standing: Count) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(standing.window.limit.amount),
        "X-RateLimit-Remaining": str(standing.remaining),
        "X-RateLimit-Reset": str(int(standing.window.ends_at)),
    }


def _refusal(refused: list[Count], now: float) -> tuple[dict[str, Any], int, dict[str, str]]:
    # Of the limits exceeded, the one that lasts longest decides when to come back.
    last = max(refused, key=lambda c: c.window.ends_at)
    message = (
        f"Too many submissions: the limit is {last.window.limit} for each API key (or "
        "client address); retry after the number of seconds in Retry-After."
    )
    headers = {**_headers(last), "Retry-After": str(last.retry_after(now))}
    return error_body(429, message), 429, headers


def init_rate_limit(app: Flask, rate_limit: str, client: redis.Redis) -> FixedWindowCounter | None:
    """Limit POSTs to ``rate_limit`` per client identity; ``""`` turns limiting off."""
    if not rate_limit:
        return None
    counter = FixedWindowCounter(client, parse_many(rate_limit), KEY_PREFIX)

    @app.before_request
    def _count_submission() -> Any:
        if request.method not in LIMITED_METHODS:
            return None
        now = time.time()
        try:
            counts = counter.hit(client_identity(), now)
        except redis.RedisError as exc:
            logger.warning("rate limit not checked, Redis did not answer: %r", exc)
            return None
        refused = [c for c in counts if not c.allowed]
        if refused:
            return _refusal(refused, now)
        setattr(g, _STANDING, _tightest(counts))
        return None

    @app.after_request
    def _say_where_the_client_stands(response: Response) -> Response:
        standing = g.get(_STANDING)
        if standing is not None:
            response.headers.update(_headers(standing))
        return response

    return counter
