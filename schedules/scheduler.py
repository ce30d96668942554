"""RedBeat's scheduler, made to ride out a Redis outage instead of exiting.

Stock RedBeat 2.4 (the version whose code this module copies and overrides) exits the beat on
the first tick that cannot reach Redis: its ``retry_period`` covers the client's own calls, not
the lock's ``extend`` or the schedule's pipeline (redbeat#285, #314). Under ``make run`` honcho
then stops the API and the worker as well. A lock that expired during a long outage is another
exit (redbeat#230).

`ResilientScheduler` keeps the beat alive: a tick that meets an outage logs it once and tries
again a second later, and a lost lock is taken again if it is free, or waited for if another
beat took it, so there is never more than one beat sending. The contract's command,
``celery -A workflows beat -S redbeat.RedBeatScheduler``, names the stock class, and so does
the ``beat_scheduler`` setting a plain ``celery -A workflows beat`` uses (`config`), so
`adopt` switches the scheduler's class when the beat starts (``schedules.beat``).

Sending a run, the beat first saves the entry's next instance (RedBeat's ``meta`` and sorted-set
score). RedBeat's ``_next_instance`` does that with a plain HSET + ZADD, which recreate an entry
deleted between the tick loading it and the run going out: a hash holding ``meta`` alone, with
no TTL, that nothing ever removes (the next tick drops the sorted-set member, not the hash).
The scheduler's entries are `GuardedEntry`, whose save is one script that writes only while the
entry exists, only while it is enabled, and only if no PATCH restarted its timing since the
tick loaded it.

That save is also how a run is claimed: the scheduler sends a run only if its save went through.
The lock is renewed at the start of a tick, which then sends every entry it loaded; a tick longer
than the lock timeout (many entries due at once) or a beat paused mid-tick let the lock expire,
and the beat taking over sends the same due entries. The old leader's saves are then refused
(the new leader's changed each entry's ``meta``), and it used to send its copies all the same:
1000 schedules on one crontab, two beats and a 3 s lock sent 522 runs twice.

A run that cannot be routed (its queue is not among this beat's TASK_QUEUES, say after a queue
was retired) is counted by RedBeat all the same and used to fail with a traceback in the
beat's log only, every time it fell due. The scheduler hands it to `on_unroutable`, which
records it in the schedule's history as a failed run (`schedules.beat`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis
from celery.beat import SchedulingError
from celery.exceptions import QueueNotFound
from redbeat.decoder import RedBeatJSONEncoder
from redbeat.schedulers import (
    LUA_EXTEND_TO_SCRIPT,
    RedBeatScheduler,
    RedBeatSchedulerEntry,
    ensure_conf,
    get_redis,
)
from redis.exceptions import LockNotOwnedError
from redis.lock import Lock

__all__ = ["GuardedEntry", "ResilientScheduler", "adopt"]

logger = logging.getLogger(__name__)

#: An outage as a tick meets it: a refused or lost connection, a reply too late, or a Redis
#: refusing for now (a ConnectionError: workflows.redis_client). Narrower than that module's
#: OUTAGE_ERRORS on purpose: a command Redis rejects as wrong is a bug, not ridden out.
TICK_OUTAGES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)

#: RedBeat's save of an entry's next instance, only while the entry has its definition, is
#: enabled, and has the ``meta`` the tick loaded it with (atomically: a DELETE or PATCH lands
#: wholly before or after). A disabled entry keeps the score -1 the API gave it, which keeps it
#: out of every tick. KEYS: entry hash, schedule sorted set; ARGV: meta, score, '1' to check
#: the meta against the next one, the meta as loaded.
_ADVANCE_IF_UNCHANGED = """
local definition = redis.call('HGET', KEYS[1], 'definition')
if not definition then
    return 0
end
if cjson.decode(definition).enabled == false then
    return 0
end
if ARGV[3] == '1' and (redis.call('HGET', KEYS[1], 'meta') or '') ~= ARGV[4] then
    return 0
end
redis.call('HSET', KEYS[1], 'meta', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], KEYS[1])
return 1
"""


class GuardedEntry(RedBeatSchedulerEntry):
    """A RedBeat entry whose next instance is saved only while the entry exists, is enabled, and
    nobody restarted its timing since the tick loaded it (see module).

    The beat loads every due entry at the start of a tick, then sends them one by one. A PATCH
    of the timing, a re-enable or a delete and re-create writes a new ``meta`` in between, and
    a next run counted from now; the old copy's save would have put back the old timing's next
    run (an every-2-s schedule then waited out its old minute). A PATCH of anything else
    leaves ``meta`` alone, and the save goes through: else the entry would stay due and run
    again at once.

    The rest is RedBeat 2.4's `_next_instance` and `from_key` as they are: Celery's new instance,
    the run count rolled back when only the last run moves, the same ``meta``, the same score.
    """

    def __init__(
        self, *args: Any, loaded_meta: str | None = None, claimed: bool = True, **kwargs: Any
    ) -> None:
        # Keyword arguments, not attributes set later: Celery copies an entry from vars(self).
        super().__init__(*args, **kwargs)
        #: The ``meta`` stored when this entry was read (or saved); None if it never was.
        self.loaded_meta = loaded_meta
        #: False for a next instance whose save was refused: the run it stands for is someone
        #: else's (another beat sent it) or no longer wanted (deleted, disabled, timing
        #: restarted).
        self.claimed = claimed

    @classmethod
    def from_key(cls, key: str, app: Any = None) -> GuardedEntry:
        """RedBeat 2.4's, keeping the ``meta`` it read for `_next_instance`'s check."""
        ensure_conf(app)
        with get_redis(app).pipeline() as pipe:
            pipe.hget(key, "definition")
            pipe.hget(key, "meta")
            definition, meta = pipe.execute()
        if not definition:
            raise KeyError(key)
        fields = cls.decode_definition(definition)
        decoded_meta = cls.decode_meta(meta)
        fields.update(decoded_meta)
        entry = cls(app=app, loaded_meta=meta or "", **fields)
        # Celery's ScheduleEntry sets last_run_at to now; RedBeat puts back the stored one.
        entry.last_run_at = decoded_meta["last_run_at"]
        return entry

    def _next_instance(
        self, last_run_at: datetime | None = None, only_update_last_run_at: bool = False
    ) -> GuardedEntry:
        # Celery's ScheduleEntry builds the next instance; RedBeat's own override, skipped
        # here, would save it unconditionally.
        entry = super(RedBeatSchedulerEntry, self)._next_instance(last_run_at=last_run_at)
        if only_update_last_run_at:
            entry.total_run_count = self.total_run_count
        meta = json.dumps(
            {"last_run_at": entry.last_run_at, "total_run_count": entry.total_run_count},
            cls=RedBeatJSONEncoder,
        )
        # A pipeline, as RedBeat's save: its client retries direct calls for 30 s, while a
        # failed pipeline reaches the tick at once, which rides the outage out.
        with get_redis(self.app).pipeline(transaction=False) as pipe:
            pipe.eval(
                _ADVANCE_IF_UNCHANGED,
                2,
                self.key,
                self.app.redbeat_conf.schedule_key,
                meta,
                entry.score,
                "0" if self.loaded_meta is None else "1",
                self.loaded_meta or "",
            )
            (saved,) = pipe.execute()
        # What is stored now, for a later save of this instance; if nothing was, the old one.
        entry.loaded_meta = meta if saved else self.loaded_meta
        entry.claimed = bool(saved)
        return entry

    __next__ = next = _next_instance


class ResilientScheduler(RedBeatScheduler):
    """A RedBeat scheduler that outlives Redis outages and lost locks, and whose entries'
    bookkeeping never recreates a deleted entry (see module)."""

    Entry = GuardedEntry
    _in_outage = False
    _standing_by = False
    #: RedBeat's: the lock this beat holds, if any (its class attribute is None).
    lock: Lock | None
    #: Told of each run that could not be routed, with the entry and Celery's error.
    on_unroutable: Callable[[Any, QueueNotFound], None] | None = None

    def apply_async(self, entry: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().apply_async(entry, *args, **kwargs)
        except SchedulingError as exc:
            cause = exc.__context__
            if not isinstance(cause, QueueNotFound) or self.on_unroutable is None:
                raise
            self.on_unroutable(entry, cause)
            return None

    def maybe_due(self, entry: Any, **kwargs: Any) -> float:
        """RedBeat 2.4's, but a due run is sent only if this beat's save of the entry's next run
        went through (see module): else another beat sent it since this tick loaded the entry,
        or it was deleted or disabled, or its timing restarted. A Redis outage in that save
        reaches `tick`, which rides it out; the entry stays due and is sent once Redis is back."""
        is_due, next_time_to_run = entry.is_due()
        if not is_due:
            return next_time_to_run
        claimed = self.reserve(entry)
        if not getattr(claimed, "claimed", True):
            logger.info(
                "Scheduler: Not sending %s: another beat sent it, or it was changed, "
                "disabled or deleted, since this tick loaded it",
                entry.name,
            )
            return next_time_to_run
        logger.info("Scheduler: Sending due task %s (%s)", entry.name, entry.task)
        try:
            self.apply_async(claimed, advance=False, **kwargs)
        except Exception as exc:  # as RedBeat's: one unsendable run must not stop the tick
            logger.exception("Scheduler: Message Error: %s", exc)
        return next_time_to_run

    def tick(self, *args: Any, **kwargs: Any) -> float:
        try:
            if self.lock_key and not self._hold_lock():
                return self.max_interval  # another beat leads: try for the lock next tick
            interval = super().tick(*args, **kwargs)
        except TICK_OUTAGES as exc:
            if not self._in_outage:
                logger.warning("beat: Redis unreachable (%s); trying again every second", exc)
            self._in_outage = True
            return min(1.0, self.max_interval)
        self._reached()
        return interval

    def close(self) -> None:
        """Release the lock if Redis can be reached; if not, it expires by itself."""
        try:
            super().close()
        except TICK_OUTAGES as exc:
            logger.warning("beat: could not release the lock (%s); it expires by itself", exc)

    def _hold_lock(self) -> bool:
        """Extend the lock this beat holds, or take it if it is free; False if another beat
        holds it. The stock tick extends it again: one more EVALSHA a second."""
        if self.lock is not None and self.lock.local.token is not None:
            try:
                self.lock.extend(int(self.lock_timeout))
                self._reached()
                return True
            except LockNotOwnedError:
                self._reached()
                logger.warning("beat: lost the lock (it expired, or another beat took it)")
                self.lock = None
        lock = self._new_lock()
        acquired = lock.acquire(blocking=False)
        self._reached()
        if acquired:
            self.lock, self._standing_by = lock, False
            logger.info("beat: Acquired lock")
            return True
        if not self._standing_by:
            # Usually another beat; after an outage it can also be a take that Redis ran
            # late, after its sender had given up on the reply. Either way it expires.
            logger.warning(
                "beat: the lock is held elsewhere; standing by (it is free again within %ss "
                "if its holder is gone)",
                int(self.lock_timeout),
            )
        self._standing_by = True
        return False

    def _reached(self) -> None:
        """Redis answered: say so once if it had not been answering."""
        if self._in_outage:
            logger.info("beat: Redis is back")
        self._in_outage = False

    def _new_lock(self) -> Any:
        """A lock as RedBeat 2.4's ``beat_init`` receiver (``acquire_distributed_beat_lock``)
        makes it: ``extend`` sets the timeout."""
        client = get_redis(self.app)
        lock = client.lock(self.lock_key, timeout=self.lock_timeout, sleep=self.max_interval)
        lock.lua_extend = client.register_script(LUA_EXTEND_TO_SCRIPT)
        return lock


def adopt(
    scheduler: object, on_unroutable: Callable[[Any, QueueNotFound], None] | None = None
) -> None:
    """Give a stock `RedBeatScheduler` the resilient behaviour; leave any other alone."""
    if type(scheduler) is RedBeatScheduler:
        scheduler.__class__ = ResilientScheduler
        assert isinstance(scheduler, ResilientScheduler)  # its class since the line above
        scheduler.on_unroutable = on_unroutable
