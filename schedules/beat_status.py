"""Is a beat running, and how many entries does RedBeat hold: read from RedBeat's own keys.

A running RedBeat beat holds a lock key and renews it every tick (``redbeat_lock_timeout``:
BEAT_LOCK_TIMEOUT_SECONDS, 10 s by default); it releases the lock when it stops, and the key
expires if the beat dies. So the key's presence says a beat is alive, within one lock timeout.
The entries are the members of RedBeat's schedule sorted set.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from config.celery_config import REDBEAT_KEY_PREFIX

__all__ = ["LOCK_KEY", "SCHEDULE_KEY", "BeatStatus", "beat_status"]

#: RedBeat's key names: ``<prefix>:lock`` and ``<prefix>:schedule`` (redbeat.schedulers).
LOCK_KEY = f"{REDBEAT_KEY_PREFIX}:lock"
SCHEDULE_KEY = f"{REDBEAT_KEY_PREFIX}:schedule"


@dataclass(frozen=True, slots=True)
class BeatStatus:
    alive: bool
    #: Seconds before the lock expires unless the beat renews it; None when no beat holds it.
    lock_ttl_seconds: float | None
    schedules: int


def beat_status(client: redis.Redis) -> BeatStatus:
    """The beat's lock and the number of schedule entries, in one round trip."""
    with client.pipeline(transaction=False) as pipe:
        pipe.pttl(LOCK_KEY)
        pipe.zcard(SCHEDULE_KEY)
        pttl, count = pipe.execute()
    # PTTL: -2 no such key (no beat), -1 a key without expiry (held, never renewed).
    alive = pttl != -2
    ttl = pttl / 1000 if pttl >= 0 else None
    return BeatStatus(alive=alive, lock_ttl_seconds=ttl, schedules=int(count))
