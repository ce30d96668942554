"""Periodic jobs stored with RedBeat: create, read, update, delete, run history.

Nothing here knows about HTTP: `api.schedules` turns requests into these calls.
"""

from schedules.model import (
    NAME_PATTERN,
    InvalidName,
    ScheduleBusy,
    ScheduleError,
    ScheduleExists,
    ScheduleNotFound,
    ScheduleSpec,
    ScheduleView,
    TooManySchedules,
    check_name,
)
from schedules.runs import Run
from schedules.store import ScheduleStore
from schedules.timing import Cron, Every, InvalidTiming, Timing

__all__ = [
    "NAME_PATTERN",
    "Cron",
    "Every",
    "InvalidName",
    "InvalidTiming",
    "Run",
    "ScheduleBusy",
    "ScheduleError",
    "ScheduleExists",
    "ScheduleNotFound",
    "ScheduleSpec",
    "ScheduleStore",
    "ScheduleView",
    "Timing",
    "TooManySchedules",
    "check_name",
]
