"""Fixed-window counting of submissions in Redis: one round trip per request, whatever the limits,
or none of its own when the count rides with the submission's publish.

Windows are aligned to the clock (a 1-second window is one wall-clock second, a minute window
one calendar minute), so every web process derives the same key and the same window end from
the time alone and never has to ask Redis when a window ends. One Lua script increments the
counter of every limit at once and sets each one's expiry when it opens: a POST costs one
EVALSHA, which runs one INCR per limit and one EXPIRE per window opened. (Flask-Limiter, which
sumflow used before, took three round trips and then a fifth of a POST's CPU; see README,
Performance.)

Given a queue and a message, the same script pushes the message when every limit allows it:
`FixedWindowCounter.gate` hands it to the publish (`workflows.broker.PublishGate`), so a single
add is counted and queued in one round trip, and a refused one is never queued and writes
nothing but its count (not even its issued-id marker).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import redis
from limits import RateLimitItem

from workflows.broker import PublishGate

__all__ = ["KEY_PREFIX", "FixedWindowCounter", "Window", "window_of"]

#: Where every counter lives: submissions per client identity (api/rate_limit.py) and failed
#: API keys per address (api/auth_failures.py), each identity kind with a name of its own.
KEY_PREFIX = "sumflow:ratelimit"

#: For ARGV[1] = n limits: increments the counters KEYS[1..n]; one just created gets ARGV[1+i]
#: seconds to live; ARGV[1+n+i] is limit i's amount. Given a queue KEYS[n+1] and a message
#: ARGV[2n+2], it pushes the message if no count went over its amount, after running the
#: commands that follow the message (each as its number of words, then its words: see
#: `workflows.broker.PublishGate`). Returns the counts.
INCR_ALL = """
local n = tonumber(ARGV[1])
local counts, allowed = {}, true
for i = 1, n do
    local count = redis.call("incr", KEYS[i])
    if count == 1 then
        redis.call("expire", KEYS[i], ARGV[1 + i])
    end
    counts[i] = count
    if count > tonumber(ARGV[1 + n + i]) then
        allowed = false
    end
end
if KEYS[n + 1] and allowed then
    local at = 2 * n + 3
    while ARGV[at] do
        local words = tonumber(ARGV[at])
        redis.call(unpack(ARGV, at + 1, at + words))
        at = at + 1 + words
    end
    redis.call("lpush", KEYS[n + 1], ARGV[2 * n + 2])
end
return counts
"""


@dataclass(frozen=True, slots=True)
class Window:
    """One limit's current window for one client: its Redis key and when it ends."""

    limit: RateLimitItem
    key: str
    ends_at: float  # Unix time


@dataclass(frozen=True, slots=True)
class Count:
    """A limit after this request's hit."""

    window: Window
    count: int

    @property
    def allowed(self) -> bool:
        return self.count <= self.window.limit.amount

    @property
    def remaining(self) -> int:
        return max(0, self.window.limit.amount - self.count)

    def retry_after(self, now: float) -> int:
        """Whole seconds until the window ends (at least 1)."""
        return max(1, math.ceil(self.window.ends_at - now))


def window_of(limit: RateLimitItem, prefix: str, identity: str, now: float) -> Window:
    """The clock-aligned window of ``limit`` containing ``now``."""
    period = limit.get_expiry()
    start = int(now // period) * period
    key = f"{prefix}:{identity}:{limit.amount}/{period}s:{start}"
    return Window(limit, key, start + period)


class FixedWindowCounter:
    def __init__(self, client: redis.Redis, limits: Sequence[RateLimitItem], prefix: str) -> None:
        self.limits = tuple(limits)
        self.prefix = prefix
        self._incr_all = client.register_script(INCR_ALL)

    def _windows(self, identity: str, now: float) -> tuple[list[Window], list[str], list[int]]:
        """Each limit's window, the counters' keys, and the script's arguments for them."""
        windows = [window_of(limit, self.prefix, identity, now) for limit in self.limits]
        # A second beyond the window's end, so a slow clock elsewhere still finds the count.
        expiries = [math.ceil(w.ends_at - now) + 1 for w in windows]
        amounts = [w.limit.amount for w in windows]
        return windows, [w.key for w in windows], [len(windows), *expiries, *amounts]

    def hit(self, identity: str, now: float) -> list[Count]:
        """Count one request of ``identity`` against every limit; raises redis errors."""
        windows, keys, args = self._windows(identity, now)
        counts = self._incr_all(keys=keys, args=args)
        return [Count(w, int(c)) for w, c in zip(windows, counts, strict=True)]

    def gate(self, identity: str, now: float, decide: Callable[[list[Count]], None]) -> PublishGate:
        """The hit as a publish's gate: counted, and the message pushed only if every limit
        allows it. ``decide`` gets the counts and raises to refuse (nothing was queued)."""
        windows, keys, args = self._windows(identity, now)

        def check(counts: list[Any]) -> None:
            decide([Count(w, int(c)) for w, c in zip(windows, counts, strict=True)])

        return PublishGate(INCR_ALL, keys, args, check)
