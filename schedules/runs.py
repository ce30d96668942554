"""Run history of each schedule: which task the beat sent when, read back with its status.

The beat records every run as it publishes it (see `schedules.beat`): the task id goes into a
capped list per schedule (LPUSH + LTRIM + EXPIRE, so Redis never grows without bound) and is
marked as issued, so ``GET /result/<id>`` answers for it like for any other task. Reading the
history back (`ScheduleStore.run_history`) costs three round trips whatever its length: the
entry (is it one of sumflow's schedules?), the list, then every status at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis

from config import Settings
from workflows.registry import mark_issued
from workflows.results import present, read_metas

__all__ = [
    "LAST_RUN_FIELD",
    "RUN_HEADER",
    "RUN_ID_HEADER",
    "Run",
    "RunLog",
    "run_headers",
    "runs_key",
]

#: Message header naming the schedule a task was sent for; the beat's recorder looks for it.
RUN_HEADER = "sumflow_schedule"
#: Message header, and header of the entry's options, telling one creation of a name from the
#: next: a run the beat sends for a schedule that is then deleted and created again under the
#: same name is not one of the new schedule's runs.
RUN_ID_HEADER = "sumflow_schedule_id"
#: Field of the RedBeat entry's hash holding the last run's time. RedBeat reads only its own
#: ``definition`` and ``meta`` fields, and deletes the whole hash with the entry.
LAST_RUN_FIELD = "sumflow_last_run_at"
RUNS_PREFIX = "sumflow:schedule-runs:"

#: One run's last-run field and history entry, written only if the RedBeat entry still has
#: its definition, from the creation the run was sent for (atomically: a DELETE or a new
#: creation lands wholly before or after). KEYS: entry hash, run list; ARGV: last-run field,
#: its value, the run's record, runs kept, the list's TTL, the id header's name, the run's
#: schedule id ('' if none).
_RECORD_IF_SAME_SCHEDULE = """
local definition = redis.call('HGET', KEYS[1], 'definition')
if not definition then
    return 0
end
local options = cjson.decode(definition).options
local headers = type(options) == 'table' and options.headers or nil
local id = type(headers) == 'table' and headers[ARGV[6]] or nil
if (type(id) == 'string' and id or '') ~= ARGV[7] then
    return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('LPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""


def run_headers(entry: Any) -> dict[str, str]:
    """The headers a RedBeat entry's runs are sent with (`RUN_HEADER`, `RUN_ID_HEADER`)."""
    return (entry.options or {}).get("headers") or {}


def runs_key(name: str) -> str:
    return RUNS_PREFIX + name


@dataclass(frozen=True, slots=True)
class Run:
    """One run as a client sees it: the task sent, and its status and result now."""

    task_id: str
    run_at: datetime
    status: str
    result: Any


class RunLog:
    """Writes and reads the capped, expiring run lists.

    ``keep`` runs are kept per schedule; a list expires ``ttl`` seconds after its last run
    (the results it points to expire then too), and older runs are not shown.
    """

    def __init__(self, keep: int, ttl: int) -> None:
        self.keep = keep
        self.ttl = ttl

    @classmethod
    def from_settings(cls, settings: Settings) -> RunLog:
        """The run log the API and the beat share: both must agree on how much is kept."""
        return cls(settings.schedule_runs_kept, settings.result_expires_seconds)

    def record(
        self,
        pipe: redis.client.Pipeline,
        name: str,
        entry_key: str,
        task_id: str,
        run_at: datetime,
        schedule_id: str = "",
    ) -> None:
        """Queue on ``pipe`` everything one run writes (the caller executes it once).

        The id is marked issued whatever happens (the task is sent all the same); the last
        run and the history are written only while the entry exists, and is the creation
        ``schedule_id`` names: a run sent just as its schedule was deleted does not bring back
        the entry's hash nor its history, nor lands in a new schedule of the same name."""
        mark_issued(pipe, [task_id], "schedule", self.ttl)
        record = json.dumps({"task_id": task_id, "run_at": run_at.timestamp()})
        pipe.eval(
            _RECORD_IF_SAME_SCHEDULE,
            2,
            entry_key,
            runs_key(name),
            LAST_RUN_FIELD,
            run_at.isoformat(),
            record,
            self.keep,
            self.ttl,
            RUN_ID_HEADER,
            schedule_id,
        )

    def read(self, client: redis.Redis, name: str, limit: int, now: datetime) -> list[Run]:
        """The newest ``limit`` runs, newest first, each with its current status."""
        raw = client.lrange(runs_key(name), 0, max(0, min(limit, self.keep) - 1))
        oldest = now - timedelta(seconds=self.ttl)
        records = [json.loads(item) for item in raw]
        records = [r for r in records if _time(r["run_at"]) >= oldest]
        if not records:
            return []
        metas = read_metas(client, [record["task_id"] for record in records])
        runs = []
        for record, meta in zip(records, metas, strict=True):
            view = present(meta)
            runs.append(Run(record["task_id"], _time(record["run_at"]), view.status, view.result))
        return runs


def _time(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
