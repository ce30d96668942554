"""The ``celery -A workflows beat`` process: a start that fails ends it with one log line and
exit status 1, never with a traceback printed through Celery's stderr proxy.

RedBeat reads Redis while the beat builds its scheduler (the statics set, in
``setup_schedule``), retrying for its ``retry_period`` (30 s: 1, 2, 4, 8 and 16 s apart, so it
gives up after 31). Celery's beat then logged a CRITICAL "beat raised exception" with the whole
chained traceback and re-raised, and Python printed the exception again into ``sys.stderr``,
which Celery had replaced with a ``LoggingProxy`` that logs every ``write`` as a record of its
own: some 1,340 WARNING lines of "^", "." and "ConnectionError", none of them JSON under
LOG_FORMAT=json. A Redis that does not answer at start is expected, not a bug: `BeatService`
says so in one line. Any other failure is still Celery's CRITICAL record with its traceback,
once (`Beat`). Once built, the scheduler rides outages out itself (`schedules.scheduler`).

A SIGTERM while RedBeat waits runs Celery's handler, which saves the schedule through
``service.scheduler``: it built a second scheduler in the handler, which waited out the 30 s
of retries again before the beat stopped. `BeatService.sync` has nothing to save then.

`workflows.celery_app` names `Beat` by its dotted path, as ``config`` names `schedules.beat`.
"""

from __future__ import annotations

import logging
import time

import redis
from celery.apps.beat import Beat as CeleryBeat
from celery.beat import Service
from kombu.utils.url import maybe_sanitize_url

__all__ = ["Beat", "BeatService", "giving_up"]

logger = logging.getLogger(__name__)

#: What RedBeat's client retries for ``retry_period`` before it lets the error through.
#: Authentication and LOADING errors are ConnectionErrors in redis-py.
STARTUP_OUTAGES = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def giving_up(url: str, error: Exception, seconds: float) -> str:
    """The line a beat logs as it exits for want of Redis; ``url`` has no password in it."""
    if isinstance(error, redis.exceptions.AuthenticationError):
        return (
            f"beat: the Redis at {url} refuses the credentials in REDIS_URL ({error}); "
            f"giving up after {seconds:.0f} s"
        )
    return f"beat: no Redis answers at {url} after {seconds:.0f} s ({error}); giving up"


class BeatService(Service):
    """Celery's beat service, ending a start that found no Redis in one line (see module)."""

    def start(self, embedded_process: bool = False) -> None:
        started = time.monotonic()
        try:
            super().start(embedded_process)
        except STARTUP_OUTAGES as exc:
            if "scheduler" in vars(self):
                raise  # the scheduler was built (a cached property): not a failed start
            conf = self.app.conf
            url = maybe_sanitize_url(conf.get("redbeat_redis_url") or conf.broker_url)
            logger.error(giving_up(url, exc, time.monotonic() - started))
            raise SystemExit(1) from None

    def sync(self) -> None:
        """Save the schedule and release the lock; before the scheduler exists (a SIGTERM
        while RedBeat waits for Redis) there is neither, and nothing to build (see module)."""
        if "scheduler" in vars(self):
            super().sync()
        else:
            self._is_stopped.set()


class Beat(CeleryBeat):
    """Celery's beat application with `BeatService`, exiting 1 after Celery has logged a
    failure rather than re-raising it into its own stderr proxy (see module)."""

    Service = BeatService

    def start_scheduler(self) -> None:
        try:
            super().start_scheduler()
        except Exception:
            raise SystemExit(1) from None  # logged above: CRITICAL, with its traceback
