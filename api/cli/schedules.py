"""``sumflow schedules ...``: periodic adds stored with RedBeat, through /schedules."""

from __future__ import annotations

from typing import Any

import click

from api.cli.bodies import schedule_body, schedule_changes
from api.cli.client import path_segment
from api.cli.outputs import runs_table, schedule_lines, schedules_table
from api.cli.params import (
    EXPIRES_AFTER,
    NUMBER,
    NUMBERS_SETTINGS,
    PATH_PART,
    Count,
    Seconds,
    task_option_changes,
    task_option_flags,
)
from api.cli.session import Session, json_option, pass_session

__all__ = ["schedules"]


def _path(name: str, *rest: str) -> str:
    return "/".join(("/schedules", path_segment(name), *rest))


@click.group()
def schedules() -> None:
    """Periodic adds: list, show, create, update, pause, resume, delete, runs."""


@schedules.command("list")
@json_option
@pass_session
def list_(session: Session) -> None:
    """Every schedule, with its next run and run count."""
    body = session.client.get("/schedules")
    session.emit(body, schedules_table(body))


@schedules.command()
@click.argument("name", type=PATH_PART)
@json_option
@pass_session
def show(session: Session, name: str) -> None:
    """One schedule, with its last run, next run and run count."""
    entry = session.client.get(_path(name))
    session.emit(entry, schedule_lines(entry))


@schedules.command(context_settings=NUMBERS_SETTINGS)
@click.argument("name")
@click.argument("a", type=NUMBER)
@click.argument("b", type=NUMBER)
@click.option("--every", type=Seconds(min=0, min_open=True), help="Interval, seconds.")
@click.option("--crontab", metavar="'M H DoM Mon DoW'", help="A cron expression, in UTC.")
@task_option_flags
@EXPIRES_AFTER
@click.option("--disabled", is_flag=True, help="Create it paused.")
@json_option
@pass_session
def create(
    session: Session,
    name: str,
    a: Any,
    b: Any,
    every: float | None,
    crontab: str | None,
    queue: str | None,
    retry_policy: str | None,
    fail_times: int,
    expires_after: int | str | None,
    disabled: bool,
) -> None:
    """Create schedule NAME that adds A + B --every SECONDS or on a --crontab."""
    body = schedule_body(
        name,
        a,
        b,
        every=every,
        crontab=crontab,
        queue=queue,
        retry_policy=retry_policy,
        fail_times=fail_times,
        enabled=not disabled,
        expires_after=expires_after,
    )
    entry = session.client.post("/schedules", body)
    session.emit(entry, [f"created {name}", *schedule_lines(entry)])


@schedules.command()
@click.argument("name", type=PATH_PART)
@click.option("--every", type=Seconds(min=0, min_open=True), help="New interval, s.")
@click.option("--crontab", help="New cron expression.")
@click.option("--a", "a", type=NUMBER, help="New first operand.")
@click.option("--b", "b", type=NUMBER, help="New second operand.")
@task_option_changes
@EXPIRES_AFTER
@json_option
@pass_session
def update(
    session: Session,
    name: str,
    every: float | None,
    crontab: str | None,
    a: Any,
    b: Any,
    queue: str | None,
    retry_policy: str | None,
    fail_times: int | None,
    expires_after: int | str | None,
) -> None:
    """Change a schedule's timing, operands, queue, retry policy, simulated failures or
    expiry."""
    changes = schedule_changes(
        every=every,
        crontab=crontab,
        a=a,
        b=b,
        queue=queue,
        retry_policy=retry_policy,
        fail_times=fail_times,
        expires_after=expires_after,
    )
    entry = session.client.call("PATCH", _path(name), json=changes)
    session.emit(entry, [f"updated {name}", *schedule_lines(entry)])


def _set_enabled(session: Session, name: str, enabled: bool) -> None:
    entry = session.client.call("PATCH", _path(name), json=schedule_changes(enabled=enabled))
    session.emit(entry, f"{'resumed' if enabled else 'paused'} {name}")


@schedules.command()
@click.argument("name", type=PATH_PART)
@json_option
@pass_session
def pause(session: Session, name: str) -> None:
    """Stop running NAME until it is resumed (it is kept)."""
    _set_enabled(session, name, False)


@schedules.command()
@click.argument("name", type=PATH_PART)
@json_option
@pass_session
def resume(session: Session, name: str) -> None:
    """Run a paused schedule again."""
    _set_enabled(session, name, True)


@schedules.command()
@click.argument("name", type=PATH_PART)
@json_option
@pass_session
def delete(session: Session, name: str) -> None:
    """Delete NAME: it never runs again."""
    session.client.call("DELETE", _path(name))
    session.emit({"name": name, "deleted": True}, f"deleted {name}")


@schedules.command()
@click.argument("name", type=PATH_PART)
@click.option("--limit", type=Count(1, 10_000), default=100, show_default=True, help="At most N.")
@json_option
@pass_session
def runs(session: Session, name: str, limit: int) -> None:
    """The runs of NAME, newest first, with their status and result."""
    body = session.client.get(_path(name, "runs"), params={"limit": limit})
    session.emit(body, runs_table(body, name))
