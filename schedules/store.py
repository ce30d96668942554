"""Schedules stored as RedBeat entries: create, read, list, update, delete, and their runs.

Each schedule is one `RedBeatSchedulerEntry` in RedBeat's own format (a hash with
``definition`` and ``meta``, plus a member of its schedule sorted set), so a stock
``celery beat -S redbeat.RedBeatScheduler`` runs it. Around RedBeat's entry class this module
adds what an API needs and RedBeat leaves to its callers:

- Writes are WATCH/MULTI transactions: a name in use is refused even when two clients create
  it at once, an update cannot resurrect an entry deleted meanwhile, and a delete removes only
  the schedule it read.
- An entry sumflow did not write (no run header of sumflow's, another task, other arguments,
  a timing sumflow never stores, fields set by hand) is no schedule: reading, updating,
  deleting it and reading its runs all raise ScheduleNotFound, through the one check in
  `_read`, and `list` skips it.
- An update keeps the entry's ``meta`` (last run, run count) unless the timing changes, so
  saving never postpones the next run by accident (sibson/redbeat#313); the sorted-set score
  is set to the exact next run, so a running beat picks the change up at its next tick
  (redbeat#221, #290). A new timing, or re-enabling, counts from now: no burst of catch-up.
- A disabled entry gets score -1, which RedBeat's tick never loads; RedBeat's own check of
  ``enabled`` stays as a second guard.
- Every entry names its queue in ``options`` (RedBeat sends without routing otherwise,
  redbeat#159) and carries a header naming the schedule, for the run history.
- A schedule's ``expires_after`` is Celery's ``expires`` in ``options``, kept as seconds: the
  beat passes it to ``apply_async``, which adds it to the time of each send. A datetime
  there would be one fixed instant for every run.

The client passed in must decode responses (RedBeat expects str). RedBeat 2.4's
`get_redis(app)`, which returns the client cached on the app, is pointed at it: RedBeat's own
client retries a dead Redis for 30 s, longer than an API request should wait.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import replace
from datetime import datetime
from typing import Any, cast
from uuid import uuid4

import redis
from redbeat.decoder import RedBeatJSONEncoder, to_timestamp
from redbeat.schedulers import REDBEAT_REDIS_KEY, RedBeatSchedulerEntry, ensure_conf

from config import RetryPolicy
from schedules.model import (
    MAX_EXPIRES_AFTER_SECONDS,
    MIN_EXPIRES_AFTER_SECONDS,
    InvalidName,
    ScheduleBusy,
    ScheduleExists,
    ScheduleNotFound,
    ScheduleSpec,
    ScheduleView,
    TooManySchedules,
    check_name,
)
from schedules.runs import (
    LAST_RUN_FIELD,
    RUN_HEADER,
    RUN_ID_HEADER,
    Run,
    RunLog,
    run_headers,
    runs_key,
)
from schedules.timing import InvalidTiming, next_run_at, timing_of
from workflows.celery_app import SumflowCelery
from workflows.submit import TaskOptions
from workflows.tasks import ADD_TASK

__all__ = ["ScheduleStore", "changed"]

#: How often an update is tried again when the entry changes under it (the beat writes each
#: entry's meta once per run, so a second attempt practically always succeeds).
_ATTEMPTS = 5


def _raise_if_connection_lost(error: redis.WatchError) -> None:
    """Raise the connection error behind ``error``, if it was one and not a watched key that
    changed.

    redis-py raises a WatchError, too, for a connection error met while keys are watched (it
    chains the connection error). That is no other writer: a Redis loading its dataset takes
    the WATCH and answers the next read with -LOADING. Taken for a change, it answered 409
    ("exists", "kept changing") where the API owes 503, as for any Redis outage.
    """
    cause = error.__context__
    if isinstance(cause, redis.ConnectionError):
        raise cause


class ScheduleStore:
    """CRUD over RedBeat entries for one Celery app; see the module docstring."""

    def __init__(self, celery: SumflowCelery, client: redis.Redis, runs: RunLog) -> None:
        self.celery = celery
        self.client = client
        self.runs = runs
        setattr(celery, REDBEAT_REDIS_KEY, client)  # what redbeat's get_redis(celery) returns
        self.conf = ensure_conf(celery)

    @classmethod
    def for_app(cls, celery: SumflowCelery, client: redis.Redis) -> ScheduleStore:
        return cls(celery, client, RunLog.from_settings(celery.settings))

    # --- keys and conversions ---------------------------------------------------------------

    def key(self, name: str) -> str:
        return RedBeatSchedulerEntry.generate_key(self.celery, name)

    def entry(
        self,
        spec: ScheduleSpec,
        last_run_at: datetime | None = None,
        total_run_count: int = 0,
        schedule_id: str = "",
    ) -> RedBeatSchedulerEntry:
        """The RedBeat entry for ``spec``: queue explicit, run headers set (the schedule's
        name, and the id of this creation of it, if it has one)."""
        queue = spec.options.queue or self.celery.settings.default_queue
        headers = {RUN_HEADER: spec.name, **({RUN_ID_HEADER: schedule_id} if schedule_id else {})}
        options: dict[str, Any] = {"queue": queue, "headers": headers}
        if spec.expires_after is not None:
            options["expires"] = spec.expires_after
        return RedBeatSchedulerEntry(
            name=spec.name,
            task=ADD_TASK,
            schedule=spec.timing.schedule(self.celery),
            args=[spec.a, spec.b],
            kwargs=spec.options.task_kwargs(),
            enabled=spec.enabled,
            options=options,
            last_run_at=last_run_at,
            total_run_count=total_run_count,
            app=self.celery,
        )

    @staticmethod
    def spec_of(entry: RedBeatSchedulerEntry) -> ScheduleSpec:
        """The spec of a stored entry; ScheduleNotFound if it is not one of sumflow's adds.

        sumflow's own entries carry its run header (see `entry`). Any other entry, even one
        for ``sumflow.add`` from a plain beat configuration, is someone else's: never shown,
        changed or deleted here, and never a reason for a listing to fail."""
        args = list(entry.args or ())
        options = entry.options or {}
        ours = run_headers(entry).get(RUN_HEADER) == entry.name
        if not ours or entry.task != ADD_TASK or len(args) != 2:
            raise ScheduleNotFound(entry.name)
        try:
            timing = timing_of(entry.schedule)
            kwargs = dict(entry.kwargs or {})
            policy = kwargs.get("retry_policy")
            task_options = TaskOptions(
                queue=options.get("queue"),
                retry_policy=RetryPolicy(**policy) if policy else None,
                fail_times=int(kwargs.get("fail_times", 0)),
            )
            expires_after = _expires_after(options.get("expires"))
        except (InvalidTiming, TypeError, ValueError):  # an rrule, or fields set by hand
            raise ScheduleNotFound(entry.name) from None
        return ScheduleSpec(
            name=entry.name,
            a=args[0],
            b=args[1],
            timing=timing,
            enabled=bool(entry.enabled),
            options=task_options,
            expires_after=expires_after,
        )

    @staticmethod
    def _definition(entry: RedBeatSchedulerEntry) -> str:
        """The ``definition`` field exactly as RedBeat 2.4's `RedBeatSchedulerEntry.save` writes
        it."""
        definition = {
            "name": entry.name,
            "task": entry.task,
            "args": entry.args,
            "kwargs": entry.kwargs,
            "options": entry.options,
            "schedule": entry.schedule,
            "enabled": entry.enabled,
        }
        return json.dumps(definition, cls=RedBeatJSONEncoder)

    @staticmethod
    def _meta(last_run_at: datetime, total_run_count: int) -> str:
        meta = {"last_run_at": last_run_at, "total_run_count": total_run_count}
        return json.dumps(meta, cls=RedBeatJSONEncoder)

    def _score(self, entry: RedBeatSchedulerEntry, now: datetime) -> float:
        """Where the entry goes in RedBeat's sorted set: its next run, or -1 (never loaded)."""
        if not entry.enabled:
            return -1
        return to_timestamp(next_run_at(entry.schedule, entry.last_run_at or now, now))

    def _decode(self, fields: list[str | None]) -> tuple[RedBeatSchedulerEntry, datetime | None]:
        """An entry from its hash fields, as RedBeat 2.4's `RedBeatSchedulerEntry.from_key`
        builds it, and like it a KeyError when there is no entry.

        Not ``from_key`` itself, RedBeat's documented read: it fetches ``definition`` and
        ``meta`` alone, in a round trip of its own. The callers' HMGET also fetches sumflow's
        last-run field, `list` reads every entry in one pipelined round trip, and `_update`
        and `_delete` read on the pipeline that WATCHes the key they then write."""
        definition, meta, last_run = fields
        if not definition:
            raise KeyError("definition")
        decoded = RedBeatSchedulerEntry.decode_definition(definition)
        meta_fields = RedBeatSchedulerEntry.decode_meta(meta)
        entry = RedBeatSchedulerEntry(app=self.celery, **{**decoded, **meta_fields})
        entry.last_run_at = meta_fields["last_run_at"]
        return entry, datetime.fromisoformat(last_run) if last_run else None

    def _view(
        self, entry: RedBeatSchedulerEntry, last_run: datetime | None, now: datetime
    ) -> ScheduleView:
        spec = self.spec_of(entry)
        upcoming = None
        if spec.enabled:
            upcoming = next_run_at(entry.schedule, entry.last_run_at or now, now)
        return ScheduleView(spec, upcoming, last_run, int(entry.total_run_count or 0))

    def _read(self, client: redis.Redis, name: str) -> tuple[RedBeatSchedulerEntry, Any]:
        """The entry named ``name`` and its last run; ScheduleNotFound unless it is one of
        sumflow's schedules (no entry, or one `spec_of` refuses). Every endpoint that names a
        schedule reads it through here, so a foreign entry is unknown to them all alike.

        A name `check_name` refuses is no schedule's, and is not looked up: its key could be
        another of RedBeat's (``:lock``, a string; ``:schedule``, a sorted set), whose
        WRONGTYPE reply read as a Redis outage (503) to a client that merely asked."""
        try:
            check_name(name)
        except InvalidName:
            raise ScheduleNotFound(name) from None
        # str, not bytes: the store's client decodes replies (RedBeat's format), which
        # redis-py's types cannot tell.
        fields = cast(
            "list[str | None]", client.hmget(self.key(name), ["definition", "meta", LAST_RUN_FIELD])
        )
        try:
            entry, last_run = self._decode(fields)
        except KeyError:
            raise ScheduleNotFound(name) from None
        self.spec_of(entry)
        return entry, last_run

    # --- operations -------------------------------------------------------------------------

    def create(self, spec: ScheduleSpec) -> ScheduleView:
        """Store a new schedule; ScheduleExists if the name is taken, TooManySchedules if
        MAX_SCHEDULES are stored. The first run is one interval (or the next cron time) from
        now.

        The count is RedBeat's index, which the beat rewrites every tick, so it is read, not
        watched: creates racing at the limit can pass it by as many as race."""
        check_name(spec.name)
        now = self.celery.now()
        entry = self.entry(spec, last_run_at=now, schedule_id=uuid4().hex)
        key = entry.key
        limit = self.celery.settings.max_schedules
        with self.client.pipeline() as pipe:
            try:
                pipe.watch(key)
                if pipe.hexists(key, "definition"):
                    raise ScheduleExists(spec.name)
                if pipe.zcard(self.conf.schedule_key) >= limit:
                    raise TooManySchedules(limit)
                pipe.multi()
                # Drop what a beat of an older sumflow, sending a run just as the name was
                # deleted, may have left (its writes did not check that the entry existed).
                pipe.delete(key, runs_key(spec.name))
                pipe.hset(
                    key, mapping={"definition": self._definition(entry), "meta": self._meta(now, 0)}
                )
                pipe.zadd(self.conf.schedule_key, {key: self._score(entry, now)})
                pipe.execute()
            except redis.WatchError as error:
                _raise_if_connection_lost(error)
                raise ScheduleExists(spec.name) from None
        return self._view(entry, None, now)

    def get(self, name: str) -> ScheduleView:
        entry, last_run = self._read(self.client, name)
        return self._view(entry, last_run, self.celery.now())

    def list(self) -> list[ScheduleView]:
        """Every schedule, by name (one round trip for the index, one for the entries)."""
        # Entry keys alone (no scores), as str: redis-py types every form of ZRANGE alike.
        keys = sorted(cast("list[str]", self.client.zrange(self.conf.schedule_key, 0, -1)))
        with self.client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(key, ["definition", "meta", LAST_RUN_FIELD])
            rows = pipe.execute()
        now = self.celery.now()
        views = []
        for fields in rows:
            try:
                views.append(self._view(*self._decode(fields), now))
            except (KeyError, ScheduleNotFound):
                continue  # a key RedBeat's beat will drop, or an entry that is not ours
        return sorted(views, key=lambda view: view.spec.name)

    def update(self, name: str, **changes: Any) -> ScheduleView:
        """Change the given fields (see `changed`) and keep the rest. The next run stays where
        it was unless the timing changes or the entry is re-enabled; then it counts from now."""
        for _ in range(_ATTEMPTS):
            with self.client.pipeline() as pipe:
                try:
                    return self._update(pipe, name, changes)
                except redis.WatchError as error:
                    _raise_if_connection_lost(error)
                    continue  # the beat (or another client) wrote the entry meanwhile
        raise ScheduleBusy(name)

    def _update(
        self, pipe: redis.client.Pipeline, name: str, changes: dict[str, Any]
    ) -> ScheduleView:
        key = self.key(name)
        pipe.watch(key)
        entry, last_run = self._read(pipe, name)
        old = self.spec_of(entry)
        new = changed(old, changes)
        now = self.celery.now()
        restart = new.timing != old.timing or (new.enabled and not old.enabled)
        anchor = now if restart else entry.last_run_at
        count = int(entry.total_run_count or 0)
        schedule_id = run_headers(entry).get(RUN_ID_HEADER, "")
        updated = self.entry(
            new, last_run_at=anchor, total_run_count=count, schedule_id=schedule_id
        )
        pipe.multi()
        pipe.hset(key, "definition", self._definition(updated))
        if restart:
            pipe.hset(key, "meta", self._meta(now, count))
        pipe.zadd(self.conf.schedule_key, {key: self._score(updated, now)})
        pipe.execute()
        updated.last_run_at = anchor
        return self._view(updated, last_run, now)

    def delete(self, name: str) -> None:
        """Remove the entry and its run history; ScheduleNotFound if there is no schedule of
        that name (a foreign entry under it is left alone)."""
        for _ in range(_ATTEMPTS):
            with self.client.pipeline() as pipe:
                try:
                    return self._delete(pipe, name)
                except redis.WatchError as error:
                    _raise_if_connection_lost(error)
                    continue  # the beat wrote the entry's meta meanwhile
        raise ScheduleBusy(name)

    def _delete(self, pipe: redis.client.Pipeline, name: str) -> None:
        key = self.key(name)
        pipe.watch(key)
        self._read(pipe, name)
        pipe.multi()
        pipe.zrem(self.conf.schedule_key, key)
        pipe.delete(key, runs_key(name))
        pipe.execute()

    def run_history(self, name: str, limit: int) -> builtins.list[Run]:  # not the method above
        """The schedule's newest runs, newest first; ScheduleNotFound for an unknown name."""
        self._read(self.client, name)
        return self.runs.read(self.client, name, limit, self.celery.now())


def _expires_after(expires: Any) -> int | None:
    """An entry's ``expires`` option as sumflow writes it (whole seconds, in range, or
    absent); ValueError for anything else, which sumflow never stores."""
    if expires is None:
        return None
    if type(expires) is not int or not (
        MIN_EXPIRES_AFTER_SECONDS <= expires <= MAX_EXPIRES_AFTER_SECONDS
    ):
        raise ValueError(f"expires {expires!r}")
    return expires


_SPEC_FIELDS = frozenset({"a", "b", "timing", "enabled", "expires_after"})
_OPTION_FIELDS = frozenset({"queue", "retry_policy", "fail_times"})


def changed(spec: ScheduleSpec, changes: dict[str, Any]) -> ScheduleSpec:
    """``spec`` with ``changes`` applied: any of a, b, timing, enabled, expires_after, queue,
    retry_policy and fail_times. The name cannot change (it is the entry's key)."""
    unknown = changes.keys() - _SPEC_FIELDS - _OPTION_FIELDS
    if unknown:
        raise TypeError(f"cannot change {', '.join(sorted(unknown))} of a schedule")
    options = replace(spec.options, **{k: v for k, v in changes.items() if k in _OPTION_FIELDS})
    return replace(spec, options=options, **{k: v for k, v in changes.items() if k in _SPEC_FIELDS})
