"""Rate limiting of submissions (every POST) per API key or client address, kept in Redis.

One shared budget per client across every POST endpoint, present and future, counted in the
same Redis through the API's own connection pool, so every web worker and machine shares the
count (api/rate_limit_counter.py). Every POST answer says where the client stands
(X-RateLimit-Limit, -Remaining, -Reset); over budget it is a 429 JSON with ``Retry-After``.
The limiter fails open: when Redis does not answer it lets the request through, and the
submission itself then answers 503 like any other Redis outage.

A view marked `counted_with_publish` (POST /add) is not counted before it runs: it passes
`publish_gate()` to its one publish, whose round trip then counts the request and queues the
message only within budget (api/rate_limit_counter.py). That saves a round trip per add. A
marked request that ends without publishing (bad input, a replayed Idempotency-Key) is
counted after the view, and over budget it is still answered 429.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from flask import Flask, Response, current_app, g, request
from limits import parse_many

from api.auth import client_identity
from api.errors import error_body
from api.rate_limit_counter import KEY_PREFIX, Count, FixedWindowCounter
from workflows.broker import PublishGate
from workflows.redis_client import REDIS_ERRORS

__all__ = [
    "KEY_PREFIX",
    "LIMITED_METHODS",
    "Refused",
    "counted_with_publish",
    "init_rate_limit",
    "publish_gate",
]

#: Methods that submit work, and so count against RATE_LIMIT.
LIMITED_METHODS = frozenset({"POST"})

logger = logging.getLogger(__name__)

_STANDING = "sumflow_rate_limit"
#: (counter, identity, time) of a marked request's hit, until its publish makes it.
_PENDING = "sumflow_rate_limit_pending"
_MARK = "sumflow_counted_with_publish"

View = TypeVar("View", bound=Callable[..., Any])


class Refused(Exception):
    """A submission over budget, refused by its publish's gate: nothing was queued."""

    def __init__(self, refused: list[Count], now: float) -> None:
        super().__init__("over the rate limit")
        self.refused, self.now = refused, now


def counted_with_publish(view: View) -> View:
    """Mark a POST view that passes `publish_gate()` to its one publish: its request is counted
    in that publish's round trip instead of before the view runs."""
    setattr(view, _MARK, True)
    return view


def publish_gate() -> PublishGate | None:
    """The gate that counts this request with its publish; None when limiting is off or the
    view is not marked. Over budget, the publish raises `Refused` (answered 429)."""
    pending = g.pop(_PENDING, None)
    if pending is None:
        return None
    counter, identity, now = pending

    def decide(counts: list[Count]) -> None:
        if refused := _stand(counts):
            raise Refused(refused, now)

    return counter.gate(identity, now, decide)


def _tightest(counts: list[Count]) -> Count:
    """The limit a client is closest to (fewest left; the sooner reset on a tie)."""
    return min(counts, key=lambda c: (c.remaining, c.window.ends_at))


def _headers(standing: Count) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(standing.window.limit.amount),
        "X-RateLimit-Remaining": str(standing.remaining),
        "X-RateLimit-Reset": str(int(standing.window.ends_at)),
    }


def _stand(counts: list[Count]) -> list[Count]:
    """The limits a request went over; within all of them, record where the client stands
    for the answer's headers."""
    refused = [c for c in counts if not c.allowed]
    if not refused:
        setattr(g, _STANDING, _tightest(counts))
    return refused


def _refusal(refused: list[Count], now: float) -> tuple[dict[str, Any], int, dict[str, str]]:
    # Of the limits exceeded, the one that lasts longest decides when to come back.
    last = max(refused, key=lambda c: c.window.ends_at)
    message = (
        f"Too many submissions: the limit is {last.window.limit} for each API key (or "
        "client address); retry after the number of seconds in Retry-After."
    )
    headers = {**_headers(last), "Retry-After": str(last.retry_after(now))}
    return error_body(429, message), 429, headers


def _is_marked(endpoint: str | None, method: str) -> bool:
    """Whether the view answering ``method`` at ``endpoint`` is `counted_with_publish`."""
    view = current_app.view_functions.get(endpoint) if endpoint else None
    view_class = getattr(view, "view_class", None)
    handler = getattr(view_class, method.lower(), None) if view_class else view
    return getattr(handler, _MARK, False)


def init_rate_limit(app: Flask, rate_limit: str, client: redis.Redis) -> None:
    """Limit POSTs to ``rate_limit`` per client identity; ``""`` turns limiting off."""
    if not rate_limit:
        return
    counter = FixedWindowCounter(client, parse_many(rate_limit), KEY_PREFIX)
    marked: dict[tuple[str | None, str], bool] = {}

    def count_now(identity: str, now: float) -> Any:
        """Count the request; the 429 answer if it is over budget, else None."""
        try:
            counts = counter.hit(identity, now)
        except REDIS_ERRORS as exc:
            logger.warning("rate limit not checked, Redis did not answer: %r", exc)
            return None
        refused = _stand(counts)
        return _refusal(refused, now) if refused else None

    @app.before_request
    def _count_submission() -> Any:
        if request.method not in LIMITED_METHODS:
            return None
        route = (request.endpoint, request.method)
        if route not in marked:
            marked[route] = _is_marked(*route)
        if marked[route]:
            setattr(g, _PENDING, (counter, client_identity(), time.time()))
            return None
        return count_now(client_identity(), time.time())

    @app.errorhandler(Refused)
    def _refused(exc: Refused) -> Any:
        return _refusal(exc.refused, exc.now)

    @app.after_request
    def _say_where_the_client_stands(response: Response) -> Response:
        pending = g.pop(_PENDING, None)
        if pending is not None:  # a marked view that did not publish: count it now
            _, identity, now = pending
            refusal = count_now(identity, now)
            if refusal is not None:
                return app.make_response(refusal)
        standing = g.get(_STANDING)
        if standing is not None:
            response.headers.update(_headers(standing))
        return response
