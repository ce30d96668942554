"""When a schedule runs: a fixed interval or a five-field cron string, always in UTC.

Converts between the API's two forms (`Every`, `Cron`) and Celery's schedule objects, and
computes the next run exactly. RedBeat 2.4's own `due_at` adds "time remaining from now" to the
last run, which is right only at the instant of a run; sumflow computes it from the anchor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from celery import Celery
from celery.schedules import BaseSchedule, ParseException, crontab, schedule

__all__ = [
    "CRON_FIELDS",
    "Cron",
    "Every",
    "InvalidTiming",
    "MAX_CRON_LENGTH",
    "MAX_EVERY_SECONDS",
    "MIN_EVERY_SECONDS",
    "Timing",
    "next_run_at",
    "normalized_cron",
    "parse_cron",
    "timing_of",
]

#: The shortest interval: the beat wakes about once a second, so shorter would not be kept.
MIN_EVERY_SECONDS = 1
#: The longest interval (one year); anything rarer reads better as a crontab.
MAX_EVERY_SECONDS = 366 * 86_400
#: The five fields of a cron string, in order (Celery's crontab keyword names).
CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
MAX_CRON_LENGTH = 200
#: One cron field: items separated by commas, each ``*``, a value or a range ``A-B`` (which
#: may wrap around, as Celery reads it: ``fri-mon``, ``22-2``); ``*`` and ranges optionally
#: ``/STEP``. Values are numbers, and in the month and day-of-week fields also three-letter
#: names. Celery 5.7's own parser is lenient: it reads ``1-2-3`` as 1-2, ``*/1.5`` as every
#: minute, ``mon-`` as Monday and any name in any field (``tue`` as minute 2, ``jan`` as
#: Monday), and raises a ParseException (not a ValueError) on ``1,,2``. This grammar is
#: checked first; Celery then checks the values.
_NUMBER = r"[0-9]{1,3}"
_MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
_DAYS = "sun mon tue wed thu fri sat".split()


def _field_grammar(names: list[str]) -> re.Pattern[str]:
    value = "|".join([_NUMBER, *names])
    item = rf"(?:\*(?:/{_NUMBER})?|(?:{value})(?:-(?:{value})(?:/{_NUMBER})?)?)"
    return re.compile(rf"{item}(?:,{item})*", re.IGNORECASE)


_NUMBERS_ONLY = (_field_grammar([]), "a number")

#: The values each field takes, as Celery numbers them (days of the week from Sunday).
_RANGES = {
    "minute": (0, 59),
    "hour": (0, 23),
    "day_of_month": (1, 31),
    "month_of_year": (1, 12),
    "day_of_week": (0, 6),
}

#: Each field's grammar and how its error message describes a value.
_FIELDS = {
    "minute": _NUMBERS_ONLY,
    "hour": _NUMBERS_ONLY,
    "day_of_month": _NUMBERS_ONLY,
    "month_of_year": (_field_grammar(_MONTHS), "a number or a month (jan..dec)"),
    "day_of_week": (_field_grammar(_DAYS), "a number or a day (sun..sat)"),
}


class InvalidTiming(ValueError):
    """An interval or cron string sumflow cannot schedule; the message says why."""


@dataclass(frozen=True, slots=True)
class Every:
    """Run every ``seconds`` seconds, counted from the previous run."""

    seconds: float

    def schedule(self, app: Celery | None = None) -> BaseSchedule:
        if not MIN_EVERY_SECONDS <= self.seconds <= MAX_EVERY_SECONDS:
            raise InvalidTiming(
                f"Must be between {MIN_EVERY_SECONDS} and {MAX_EVERY_SECONDS} seconds."
            )
        return schedule(run_every=timedelta(seconds=self.seconds), app=app)

    def as_json(self) -> int | float:
        """Whole seconds as an integer (RedBeat stores a float)."""
        return int(self.seconds) if float(self.seconds).is_integer() else self.seconds


@dataclass(frozen=True, slots=True)
class Cron:
    """Run at the times a five-field cron string names (UTC)."""

    expression: str

    def schedule(self, app: Celery | None = None) -> BaseSchedule:
        return parse_cron(self.expression, app)

    def as_json(self) -> str:
        return self.expression


Timing = Every | Cron


def parse_cron(expression: str, app: Celery | None = None) -> crontab:
    """Celery's crontab for ``minute hour day-of-month month day-of-week``; InvalidTiming if not.

    Celery (unlike classic cron) requires both day fields to match when both are restricted,
    and numbers days of the week 0-6 from Sunday (names like ``mon`` work too).
    """
    if len(expression) > MAX_CRON_LENGTH:
        raise InvalidTiming(f"Must be at most {MAX_CRON_LENGTH} characters.")
    parts = expression.split()
    if len(parts) != len(CRON_FIELDS):
        raise InvalidTiming(
            f"Must have five fields (minute hour day-of-month month day-of-week), got {len(parts)}."
        )
    for field, part in zip(CRON_FIELDS, parts, strict=True):
        grammar, value = _FIELDS[field]
        if not grammar.fullmatch(part):
            raise InvalidTiming(
                f"Not a valid cron string: {field} {part!r} must be '*', {value} or a range "
                "A-B ('*' and ranges optionally with /STEP), separated by commas."
            )
        _check_values(field, part)
    try:
        return crontab(**dict(zip(CRON_FIELDS, parts, strict=True)), app=app)
    except (ValueError, TypeError, IndexError, ParseException) as exc:
        raise InvalidTiming(f"Not a valid cron string: {exc}") from None


def _check_values(field: str, part: str) -> None:
    """Numbers within the field's range and steps of at least 1, said in cron's words (Celery
    5.7 says "Invalid end range: 7 > 6" of a lone 7, and "slice step cannot be zero")."""
    low, high = _RANGES[field]
    for item in part.split(","):
        values, _, step = item.partition("/")
        if step and int(step) == 0:
            raise InvalidTiming(
                f"Not a valid cron string: {field} step in {item!r} must be 1 or more."
            )
        for number in (v for v in values.split("-") if v.isdigit()):
            if not low <= int(number) <= high:
                sunday = " (0 is Sunday)" if field == "day_of_week" else ""
                raise InvalidTiming(
                    f"Not a valid cron string: {field} {int(number)} is not in "
                    f"{low}-{high}{sunday}."
                )


def normalized_cron(expression: str) -> str:
    """``" */5  *  * * *"`` → ``"*/5 * * * *"``: the form sumflow stores and shows."""
    return " ".join(expression.split())


def timing_of(sched: BaseSchedule) -> Timing:
    """The API form of a stored Celery schedule (the inverse of ``Every/Cron.schedule``)."""
    if isinstance(sched, crontab):
        # The fields as written live only in Celery's private ``_orig_<field>`` attributes
        # (Celery 5.7; its repr reads them too): the public ones are the expanded sets.
        return Cron(" ".join(str(getattr(sched, f"_orig_{name}")) for name in CRON_FIELDS))
    if isinstance(sched, schedule):
        return Every(sched.run_every.total_seconds())
    raise InvalidTiming(f"Unsupported schedule type {type(sched).__name__}.")


def next_run_at(sched: BaseSchedule, anchor: datetime, now: datetime) -> datetime:
    """When the beat runs ``sched`` next, counting from ``anchor`` (its last run, or the moment
    the timing was set). An overdue run is due now: the beat sends missed runs once, not
    once per missed slot."""
    if isinstance(sched, crontab):
        start, delta, _ = sched.remaining_delta(anchor)
        due = start + delta
    elif isinstance(sched, schedule):
        due = anchor + sched.run_every
    else:  # pragma: no cover - sumflow stores only the two kinds above
        due = now + sched.remaining_estimate(anchor)
    return max(due, now)
