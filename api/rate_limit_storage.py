"""The rate limiter's Redis storage: a POST's X-RateLimit headers come from its own hit.

Flask-Limiter counts a hit before the request (an EVALSHA that runs INCRBY) and then, to write
the X-RateLimit-* headers, reads the window back with a GET and a TTL: three round trips and
four commands per POST, about a fifth of a POST /add's CPU in make bench's profile. Here the
headers are answered from the request's own hit (same thread, within a second), which is
what they should describe. The window's end comes from the hit too: a window that starts
with this hit ends ``expiry`` seconds from now; for one started elsewhere the counting script
returns the key's PTTL, asked once per window and process, since a fixed window's end does
not move. A POST then costs one round trip and two commands.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from limits.storage import RedisStorage

__all__ = ["HitMemoRedisStorage", "SCHEME"]

SCHEME = "sumflow-redis"

#: How long a hit answers for its window: far longer than one request, far shorter than a window.
_MEMO_SECONDS = 1.0
#: Window ends remembered per process (one per client identity); forgotten all at once beyond.
_MAX_KNOWN_WINDOWS = 10_000

#: limits' incr_expire.lua, also returning the key's PTTL when ARGV[3] asks for it.
_INCR_EXPIRE_PTTL = """
local amount = tonumber(ARGV[2])
local current = redis.call("incrby", KEYS[1], amount)
if current == amount then
    redis.call("expire", KEYS[1], ARGV[1])
elseif ARGV[3] == "1" then
    return {current, redis.call("pttl", KEYS[1])}
end
return {current, -1}
"""


class HitMemoRedisStorage(RedisStorage):
    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str, **options: Any) -> None:
        self._last = threading.local()
        self._window_ends: dict[str, float] = {}
        super().__init__(uri, **options)

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self._lua_incr_expire_pttl = self.get_connection().register_script(_INCR_EXPIRE_PTTL)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        full_key = self.prefixed_key(key)
        now = time.time()
        known_end = self._window_ends.get(full_key)
        ask_ttl = known_end is None or now >= known_end
        current, pttl = self._lua_incr_expire_pttl(
            [full_key], [expiry, amount, "1" if ask_ttl else "0"]
        )
        current, pttl = int(current), int(pttl)
        if current == amount or (pttl < 0 and known_end is None):  # a new window
            window_end = now + expiry
        elif pttl >= 0:
            window_end = now + pttl / 1000
        else:
            window_end = known_end or now + expiry
        if len(self._window_ends) >= _MAX_KNOWN_WINDOWS:
            self._window_ends.clear()
        self._window_ends[full_key] = window_end
        self._last.hit = (key, current, window_end, time.monotonic())
        return current

    def _recent_hit(self, key: str) -> tuple[str, int, float, float] | None:
        hit = getattr(self._last, "hit", None)
        if hit is not None and hit[0] == key and time.monotonic() - hit[3] < _MEMO_SECONDS:
            return hit
        return None

    def get(self, key: str) -> int:
        hit = self._recent_hit(key)
        return hit[1] if hit is not None else super().get(key)

    def get_expiry(self, key: str) -> float:
        hit = self._recent_hit(key)
        return hit[2] if hit is not None else super().get_expiry(key)
