"""Rate limiting of submissions (every POST) per API key or client address, kept in Redis.

One shared budget per client across every POST endpoint, present and future (Flask-Limiter's
application-wide limits, exempting other methods), counted in the same Redis through the API's
own connection pool, so every web worker and process shares the count. Over budget: 429 JSON
with ``Retry-After``. The limiter fails open: when Redis does not answer it lets the request
through, and the submission itself then answers 503 like any other Redis outage.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded

from api.auth import client_identity
from api.errors import error_body
from api.rate_limit_storage import SCHEME

__all__ = ["LIMITED_METHODS", "init_rate_limit"]

#: Methods that submit work, and so count against RATE_LIMIT.
LIMITED_METHODS = frozenset({"POST"})

KEY_PREFIX = "sumflow:ratelimit"


class _OneLine(logging.Filter):
    """Flask-Limiter logs a full traceback for every request while Redis is down; one line
    naming the error says as much, and the 503 handler logs the outage too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {record.exc_info[1]!r}"
            record.args = ()
            record.exc_info = None
        return True


logging.getLogger("flask-limiter").addFilter(_OneLine())


def _exempt() -> bool:
    return request.method not in LIMITED_METHODS


def init_rate_limit(app: Flask, rate_limit: str, client: redis.Redis) -> Limiter | None:
    """Limit POSTs to ``rate_limit`` per client identity; ``""`` turns limiting off."""
    if not rate_limit:
        return None
    limiter = Limiter(
        client_identity,
        application_limits=[rate_limit],
        application_limits_exempt_when=_exempt,
        storage_uri=f"{SCHEME}://",  # the real connection comes from the pool below
        storage_options={"connection_pool": client.connection_pool},
        strategy="fixed-window",
        key_prefix=KEY_PREFIX,
        headers_enabled=True,
        swallow_errors=True,  # fail open: Redis down is answered by the 503 handler
    )

    @app.after_request
    def _retry_after_only_when_refused(response: Response) -> Response:
        # Flask-Limiter stamps Retry-After on every limited response; it means something only
        # on a refusal (429) or an outage (503). after_request hooks run in the reverse order
        # of registration, so this one, registered before the limiter's, runs after it.
        if response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        return response

    # Flask-Limiter resolves and evaluates every limit before it consults the exemption
    # above: ~120 µs on each GET. A request filter is checked first and skips it all.
    limiter.request_filter(_exempt)
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded) -> Any:
        message = (
            f"Too many submissions: the limit is {exc.description} for each API key (or "
            "client address); retry after the number of seconds in Retry-After."
        )
        return error_body(429, message), 429

    return limiter
