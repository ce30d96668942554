"""A budget of failed API keys per client address (AUTH_FAILURE_LIMIT), counted in Redis.

Without it, a client could try keys as fast as the API answers. Every 401 (a missing or wrong
key) is counted in the rate limiter's clock-aligned windows (api/rate_limit_counter.py), under
``unauthenticated:<address>``, so every web process and machine shares the count. Past the
budget, the address gets 429 with ``Retry-After`` whatever key it sends, until the window
ends: were a right key still let through, a 429 would only mean "wrong" and guessing would go
on. A right key from another address is unaffected.

A request with a right key costs nothing: it is not counted, and each web process remembers
an address it refused until its window ends (known from the clock, as every window's end is),
so it never asks Redis whether one is refused. A process that has not yet seen the address
fail in that window answers it normally, once: an address gets at most one guess more per web
process (and thread in flight) per window.

A failure that cannot be counted (Redis down) raises the Redis error, answered 503 like any
outage: answered 401 uncounted, a guesser would have no budget while Redis is away.

The address is the TCP peer (``REMOTE_ADDR``). Behind a reverse proxy that is the proxy's, for
every client: one client's failures then refuse them all (README, Security).
"""

from __future__ import annotations

import math
import threading
import time
from typing import NoReturn

import redis
from limits import RateLimitItem, parse_many

from api.errors import abort
from api.rate_limit_counter import KEY_PREFIX, FixedWindowCounter

__all__ = ["IDENTITY_PREFIX", "FailureBudget"]

#: The counters' identity kind: apart from the ``key:`` and ``ip:`` of RATE_LIMIT's.
IDENTITY_PREFIX = "unauthenticated:"

#: Refused addresses a process remembers before it forgets those whose window has ended.
_PRUNE_AT = 10_000


class FailureBudget:
    """Counts failed API keys per address and refuses an address past ``limit``."""

    def __init__(self, client: redis.Redis, limit: str) -> None:
        self._counter = FixedWindowCounter(client, parse_many(limit), KEY_PREFIX)
        #: address -> (end of the window it is refused for, the limit it went over)
        self._refused: dict[str, tuple[float, RateLimitItem]] = {}
        self._lock = threading.Lock()

    def check(self, address: str) -> None:
        """Answer 429 if ``address`` went over the budget in this window (as this process saw)."""
        refused = self._refused.get(address)
        if refused is not None:
            ends_at, limit = refused
            now = time.time()
            if now < ends_at:
                _too_many(limit, ends_at, now)

    def fail(self, address: str) -> None:
        """Count a failed key from ``address``; answer 429 if that one is over the budget.
        Raises the Redis error when Redis does not answer."""
        now = time.time()
        counts = self._counter.hit(IDENTITY_PREFIX + address, now)
        refused = [count.window for count in counts if not count.allowed]
        if not refused:
            return
        # Of the limits exceeded, the one that lasts longest decides when to come back.
        last = max(refused, key=lambda window: window.ends_at)
        with self._lock:
            if len(self._refused) >= _PRUNE_AT:
                self._refused = {a: r for a, r in self._refused.items() if r[0] > now}
            self._refused[address] = (last.ends_at, last.limit)
        _too_many(last.limit, last.ends_at, now)


def _too_many(limit: RateLimitItem, ends_at: float, now: float) -> NoReturn:
    retry_after = max(1, math.ceil(ends_at - now))
    abort(
        429,
        message=f"Too many failed API keys from this address: the limit is {limit} "
        "(AUTH_FAILURE_LIMIT); retry after the number of seconds in Retry-After.",
        headers={"Retry-After": str(retry_after)},
    )
