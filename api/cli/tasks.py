"""Commands for single adds and chains: add, result, revoke, chain."""

from __future__ import annotations

from typing import Any, NoReturn

import click

from api.cli.bodies import add_body, chain_body, task_options
from api.cli.client import path_segment
from api.cli.errors import TaskFailed
from api.cli.follow import wait_for_task
from api.cli.outputs import format_number
from api.cli.params import NUMBER, NUMBERS_SETTINGS, PATH_PART, Seconds, task_option_flags
from api.cli.session import Session, json_option, pass_session

__all__ = ["add", "chain", "finish_task", "result", "revoke"]

WAIT_HELP = "Wait for the result and print it (exit 1 if the task fails)."

#: The states `sumflow result` reports as an error, exiting 1, with or without --wait.
ENDED_BADLY = ("FAILURE", "REVOKED")


def finish_task(session: Session, task_id: str) -> None:
    """Wait for ``task_id``; print its result, or fail with its error message."""
    with session.interruptible(f"task {task_id} goes on: sumflow result {task_id} --wait"):
        body = wait_for_task(session.client, task_id)
    if body["status"] != "SUCCESS":
        _ended_badly(session, task_id, body)
    session.emit({"task_id": task_id, **body}, format_number(body.get("result")))


def _ended_badly(session: Session, task_id: str, body: dict[str, Any]) -> NoReturn:
    """Exit 1 with the error of a task that failed or was revoked (its JSON first, if asked)."""
    if session.json:
        session.emit({"task_id": task_id, **body})
    raise TaskFailed(f"task {task_id} ended {body['status']}: {body.get('result')}")


@click.command(context_settings=NUMBERS_SETTINGS)
@click.argument("a", type=NUMBER)
@click.argument("b", type=NUMBER)
@task_option_flags
@click.option("--countdown", type=Seconds(min=0), help="Seconds to wait before it may run.")
@click.option("--wait", "-w", is_flag=True, help=WAIT_HELP)
@json_option
@pass_session
def add(
    session: Session,
    a: Any,
    b: Any,
    queue: str | None,
    retry_policy: str | None,
    fail_times: int,
    countdown: float | None,
    wait: bool,
) -> None:
    """Queue A + B. Prints the task id, or the sum with --wait."""
    body = add_body(a, b, task_options(queue, retry_policy, fail_times), countdown)
    accepted = session.client.post("/add", body)
    if wait:
        finish_task(session, accepted["task_id"])
    else:
        session.emit(accepted, accepted["task_id"])


@click.command()
@click.argument("task_id", type=PATH_PART)
@click.option(
    "--wait", "-w", is_flag=True, help="Wait until the task is done, then print the sum alone."
)
@json_option
@pass_session
def result(session: Session, task_id: str, wait: bool) -> None:
    """Show a task's status and result: "SUCCESS 8", "PENDING", ... With --wait, the sum
    alone ("8"), as add --wait prints it. Exit 1 if it failed or was revoked."""
    if wait:
        finish_task(session, task_id)
        return
    body = session.client.get(f"/result/{path_segment(task_id)}")
    if body["status"] in ENDED_BADLY:
        _ended_badly(session, task_id, body)
    value = body.get("result")
    text = body["status"] if value is None else f"{body['status']} {format_number(value)}"
    session.emit(body, text)


@click.command()
@click.argument("task_id", type=PATH_PART)
@click.option("--terminate", is_flag=True, help="Also stop the task if it is running.")
@json_option
@pass_session
def revoke(session: Session, task_id: str, terminate: bool) -> None:
    """Revoke a task: it ends REVOKED and never runs."""
    params = {"terminate": "true"} if terminate else None
    body = session.client.call("DELETE", f"/tasks/{path_segment(task_id)}", params=params)
    session.emit(body, f"revoked {task_id}")


@click.command(context_settings=NUMBERS_SETTINGS)
@click.argument("numbers", nargs=-1, required=True, type=NUMBER)
@task_option_flags
@click.option("--wait", "-w", is_flag=True, help=WAIT_HELP)
@json_option
@pass_session
def chain(
    session: Session,
    numbers: tuple[Any, ...],
    queue: str | None,
    retry_policy: str | None,
    fail_times: int,
    wait: bool,
) -> None:
    """Sum NUMBERS step by step, ((n0 + n1) + n2) + ..., one add per step.

    Prints the last step's task id, or the total with --wait.
    """
    body = chain_body(numbers, task_options(queue, retry_policy, fail_times))
    accepted = session.client.post("/chains", body)
    if wait:
        finish_task(session, accepted["task_id"])
    else:
        session.emit(accepted, accepted["task_id"])
