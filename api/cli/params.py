"""click parameter types and option sets shared by the commands."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

from api.cli.bodies import NEVER
from api.cli.inputs import InputError, parse_number

__all__ = [
    "EXPIRES_AFTER",
    "Count",
    "NUMBER",
    "NUMBERS_SETTINGS",
    "PATH_PART",
    "NumberType",
    "PathPart",
    "Seconds",
    "task_option_changes",
    "task_option_flags",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Lets negative numbers through as arguments: ``sumflow add -7 2``.
NUMBERS_SETTINGS = {"ignore_unknown_options": True}


class NumberType(click.ParamType):
    """An exact integer or a finite float; anything else is a usage error (exit 2)."""

    name = "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        try:
            return parse_number(str(value))
        except InputError as exc:
            self.fail(str(exc), param, ctx)


NUMBER = NumberType()


class PathPart(click.ParamType):
    """A task id or schedule name, sent as a path segment: empty, it would name the
    collection (``/result/``) and earn a puzzling "No endpoint"."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not str(value).strip():
            self.fail("must not be empty (or only spaces).", param, ctx)
        return value


PATH_PART = PathPart()


class Count(click.IntRange):
    """A whole number within a range; a word is "not a valid integer", where click's own
    range said "not a valid integer range" as if a range were wanted."""

    name = "integer"


class Seconds(click.FloatRange):
    """A duration in seconds within a range, and finite: a range alone lets ``nan`` through
    (no comparison holds for it), and ``inf`` past any bound that is only a minimum."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not _is_float(value):  # click: "not a valid seconds"
            self.fail(f"{value!r} is not a number of seconds.", param, ctx)
        seconds = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a finite number of seconds.", param, ctx)
        return seconds


class ExpiresAfter(click.IntRange):
    """Whole seconds a scheduled run may wait for a worker (the API bounds them), or
    ``never``."""

    name = "seconds|never"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.strip().lower() == NEVER:
            return NEVER
        if isinstance(value, str) and not value.strip().lstrip("+-").isdigit():
            self.fail(f"{value!r} is not a whole number of seconds, or never.", param, ctx)
        return super().convert(value, param, ctx)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: ``--expires-after``, on `schedules create` and `schedules update`.
EXPIRES_AFTER = click.option(
    "--expires-after",
    type=ExpiresAfter(min=1),
    metavar="SECONDS|never",
    help="Drop a run no worker has started within SECONDS of its sending; never (the "
    "default): runs wait for a worker however long.",
)


def task_option_flags(command: F) -> F:
    """``--queue``, ``--retry-policy`` and ``--fail-times``, as every submission takes them."""
    return _task_options(command, fail_times_default=0)


def task_option_changes(command: F) -> F:
    """The same flags for changing a schedule: each None unless given."""
    return _task_options(command, fail_times_default=None)


def _task_options(command: F, fail_times_default: int | None) -> F:
    for decorator in reversed(
        (
            click.option("--queue", "-q", help="A configured queue (see `sumflow queues`)."),
            click.option(
                "--retry-policy",
                "-r",
                metavar="NAME|JSON",
                help="A policy name (see `sumflow retry-policies`) or an inline JSON object.",
            ),
            click.option(
                "--fail-times",
                type=Count(min=0),
                default=fail_times_default,
                show_default=fail_times_default is not None,
                help="Make the first K attempts of each add fail, to watch retries.",
            ),
        )
    ):
        command = decorator(command)
    return command
