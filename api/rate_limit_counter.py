"""Fixed-window counting of submissions in Redis: one round trip per request, whatever the limits.

Windows are aligned to the clock (a 1-second window is one wall-clock second, a minute window
one calendar minute), so every web process derives the same key and the same window end from
the time alone and never has to ask Redis when a window ends. One Lua script increments the
counter of every limit at once and sets each one's expiry when it opens: a POST costs one
EVALSHA, which runs one INCR per limit and one EXPIRE per window opened. (Flask-Limiter, which
sumflow used before, took three round trips and then a fifth of a POST's CPU; see README,
Performance.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import redis
from limits import RateLimitItem

__all__ = ["FixedWindowCounter", "Window", "window_of"]

#: Increments KEYS[i]; a counter just created gets ARGV[i] seconds to live. Returns the counts.
_INCR_ALL = """
local counts = {}
for i, key in ipairs(KEYS) do
    local count = redis.call("incr", key)
    if count == 1 then
        redis.call("expire", key, ARGV[i])
    end
    counts[i] = count
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
        self._incr_all = client.register_script(_INCR_ALL)

    def hit(self, identity: str, now: float) -> list[Count]:
        """Count one request of ``identity`` against every limit; raises redis errors."""
        windows = [window_of(limit, self.prefix, identity, now) for limit in self.limits]
        # A second beyond the window's end, so a slow clock elsewhere still finds the count.
        expiries = [math.ceil(w.ends_at - now) + 1 for w in windows]
        counts = self._incr_all(keys=[w.key for w in windows], args=expiries)
        return [Count(w, int(c)) for w, c in zip(windows, counts, strict=True)]
