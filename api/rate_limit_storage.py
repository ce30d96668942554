"""The rate limiter's Redis storage: a POST's X-RateLimit headers come from its own hit.

Flask-Limiter counts a hit before the request (an EVALSHA that runs INCRBY) and then, to write
the X-RateLimit-* headers, reads the window back with a GET and a TTL: three round trips per
POST, about a fifth of a POST /add's CPU in make bench's profile. Here the counting script
also returns the window's remaining time, and the headers are answered from that hit (the
same thread, within a second), so a POST costs one round trip. The numbers are the ones this
request's hit produced, which is what its headers should say.
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

#: limits' incr_expire.lua, returning the window's remaining milliseconds as well.
_INCR_EXPIRE_PTTL = """
local amount = tonumber(ARGV[2])
local current = redis.call("incrby", KEYS[1], amount)
if current == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end
return {current, redis.call("pttl", KEYS[1])}
"""


class HitMemoRedisStorage(RedisStorage):
    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str, **options: Any) -> None:
        self._last = threading.local()
        super().__init__(uri, **options)

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self._lua_incr_expire_pttl = self.get_connection().register_script(_INCR_EXPIRE_PTTL)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        current, pttl = self._lua_incr_expire_pttl([self.prefixed_key(key)], [expiry, amount])
        reset_at = time.time() + max(int(pttl), 0) / 1000
        self._last.hit = (key, int(current), reset_at, time.monotonic())
        return int(current)

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
