"""In the worker: a run whose schedule was deleted after the beat sent it is dropped.

DELETE promises that a schedule never runs again. The beat stops sending its runs at once, but
runs it sent already may be waiting in the queue (no worker, or none on that queue): an hour's
outage under an every-second schedule leaves 3,600, which used to run, with no history left to
show them, once a worker came. Each run carries its schedule's name and the id of that creation
of it (`schedules.runs`). Before a run starts, the worker reads the entry: a run whose entry is
gone, or is a later creation under the same name, ends REVOKED, saying why. Retries pass the
same check, so a run that failed and waits out its retry delay is not tried again.

A disabled schedule keeps its entry, and its runs sent before the pause still run. Celery
imports this module in the worker (the ``imports`` setting), which registers the check.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from schedules.runs import RUN_HEADER, RUN_ID_HEADER
from workflows.base_task import START_CHECKS, SumflowTask
from workflows.redis_client import REDIS_ERRORS

__all__ = ["deleted_message", "deleted_reason", "schedule_id_of"]

logger = logging.getLogger(__name__)


def schedule_id_of(definition: str | bytes) -> str:
    """The creation id in a RedBeat entry's ``definition`` ('' if it has none, or is not one
    of sumflow's), read as the beat's recorder reads it (`schedules.runs`)."""
    try:
        decoded = json.loads(definition)
    except ValueError:
        return ""
    options = decoded.get("options") if isinstance(decoded, dict) else None
    headers = options.get("headers") if isinstance(options, dict) else None
    found = headers.get(RUN_ID_HEADER) if isinstance(headers, dict) else None
    return found if isinstance(found, str) else ""


def deleted_reason(task: SumflowTask) -> str | None:
    """Why this run must not run: its schedule was deleted (or replaced) since it was sent;
    None for any other task, and for a run whose schedule is still there."""
    headers: dict[str, Any] = task.request.headers or {}
    name = headers.get(RUN_HEADER)
    if not name:
        return None  # not a scheduled run
    key = task.app.conf.redbeat_key_prefix + name
    try:
        definition = task.backend.client.hget(key, "definition")
    except REDIS_ERRORS as exc:  # better to run a run of a deleted schedule than to drop one
        logger.warning("could not check the schedule of run %s: %s", task.request.id, exc)
        return None
    if definition is not None and schedule_id_of(definition) == headers.get(RUN_ID_HEADER, ""):
        return None
    return deleted_message(name, task.request.retries or 0)


def deleted_message(name: str, failed_attempts: int) -> str:
    """The reason a run of a deleted schedule ends with. One stopped between retries did run,
    and failed: "not run" would tell its client the add was never tried."""
    if not failed_attempts:
        return f"not run: its schedule {name!r} was deleted"
    attempts = f"{failed_attempts} failed attempt{'s' if failed_attempts > 1 else ''}"
    return f"not retried after {attempts}: its schedule {name!r} was deleted"


START_CHECKS.append(deleted_reason)
