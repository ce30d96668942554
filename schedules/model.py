"""What a schedule is (`ScheduleSpec`), what a reader sees of it (`ScheduleView`), and the
errors the schedules layer raises. No Redis, no HTTP."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from schedules.timing import Timing
from workflows.arithmetic import Number
from workflows.submit import TaskOptions

__all__ = [
    "MAX_EXPIRES_AFTER_SECONDS",
    "MIN_EXPIRES_AFTER_SECONDS",
    "NAME_PATTERN",
    "InvalidName",
    "ScheduleBusy",
    "ScheduleError",
    "ScheduleExists",
    "ScheduleNotFound",
    "ScheduleSpec",
    "ScheduleView",
    "TooManySchedules",
    "check_name",
]

#: Schedule names: safe in a Redis key, a URL path and a log line. 1-100 characters.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
_NAME = re.compile(NAME_PATTERN)

#: Bounds of ``expires_after``: a second (the beat's resolution) to a year, as ``every``.
MIN_EXPIRES_AFTER_SECONDS = 1
MAX_EXPIRES_AFTER_SECONDS = 366 * 86_400


class ScheduleError(Exception):
    """Base of the schedules layer's own errors."""


class InvalidName(ScheduleError, ValueError):
    pass


class ScheduleExists(ScheduleError):
    pass


class ScheduleNotFound(ScheduleError, LookupError):
    pass


class ScheduleBusy(ScheduleError):
    """The entry kept changing under an update (another writer); trying again will do."""


class TooManySchedules(ScheduleError):
    """MAX_SCHEDULES are stored already: a new one waits for one to be deleted."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):  # not match: "$" also matches before a final newline
        raise InvalidName(
            "Must be 1-100 characters: ASCII letters, digits, '_', '.' or '-', "
            "starting with a letter or digit."
        )
    return name


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """A recurring add: ``a + b`` at the times ``timing`` names, run as ``options`` say.

    ``expires_after``: seconds after the beat sends a run by which a worker must start it;
    a run still waiting then is dropped unrun (Celery's ``expires``). None: runs never expire.
    """

    name: str
    a: Number
    b: Number
    timing: Timing
    enabled: bool = True
    options: TaskOptions = field(default_factory=TaskOptions)
    expires_after: int | None = None


@dataclass(frozen=True, slots=True)
class ScheduleView:
    """A stored schedule and where it stands. ``next_run_at`` is None while disabled."""

    spec: ScheduleSpec
    next_run_at: datetime | None
    last_run_at: datetime | None
    total_run_count: int
