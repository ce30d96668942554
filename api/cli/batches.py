"""Commands for many pairs at once from a CSV file: batch (a group) and chord (a total)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import IO, Any

import click

from api.cli.bodies import chord_body, group_body, task_options
from api.cli.errors import ApiRefused, ApiUnavailable, TaskFailed, UsageProblem
from api.cli.follow import follow_group
from api.cli.inputs import InputError, Pair, read_pairs
from api.cli.outputs import write_sums
from api.cli.params import Count, Seconds, task_option_flags
from api.cli.session import Session, json_option, pass_session
from api.cli.tasks import finish_task

__all__ = ["batch", "chord"]

PAIRS_FILE = click.argument("pairs_file", type=click.File("r", encoding="utf-8"))
POLL_INTERVAL = click.option(
    "--poll-interval",
    type=Seconds(min=0.05, max=60),
    default=0.5,
    show_default=True,
    help="Seconds between progress checks.",
)
NO_WAIT = click.option(
    "--no-wait", is_flag=True, help="Print the ids and return at once, without following."
)


def _read(pairs_file: IO[str]) -> list[Pair]:
    name = "stdin" if pairs_file.name == "<stdin>" else pairs_file.name
    try:
        return read_pairs(pairs_file, source=name)
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _first_error(group: dict[str, Any]) -> str:
    """The first failed member's message: a failed pair's result is null, its reason is in
    the group's ``errors``."""
    errors = group.get("errors") or []
    return str(errors[0].get("message", "")) if errors else "unknown (the group lists no errors)"


def _check_output(path: str | None) -> None:
    """Refuse, before anything is sent, an ``--output`` that cannot be written: found once
    the group was done, it ended in a traceback and the sums went unseen."""
    if path is None or path == "-":
        return
    target = Path(path)
    if not target.parent.is_dir():
        raise UsageProblem(f"cannot write --output {path}: no directory {target.parent}")
    if not os.access(target if target.exists() else target.parent, os.W_OK):
        raise UsageProblem(f"cannot write --output {path}: permission denied")


def _write_csv(path: str, group_id: str, pairs: list[Pair], results: list[Any]) -> int:
    if path == "-":
        return write_sums(sys.stdout, pairs, results)
    try:
        with Path(path).open("w", encoding="utf-8", newline="") as out:
            return write_sums(out, pairs, results)
    except OSError as exc:  # a full disk, or a file changed since _check_output
        raise UsageProblem(
            f"cannot write --output {path}: {exc.strerror or exc};"
            f" the sums stay at GET /groups/{group_id}"
        ) from None


@click.command()
@PAIRS_FILE
@click.option("--chunk-size", type=Count(min=1), help="Pairs per task (Celery chunks).")
@task_option_flags
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the a,b,sum CSV here instead of stdout.",
)
@POLL_INTERVAL
@NO_WAIT
@json_option
@pass_session
def batch(
    session: Session,
    pairs_file: IO[str],
    chunk_size: int | None,
    queue: str | None,
    retry_policy: str | None,
    fail_times: int,
    output: str | None,
    poll_interval: float,
    no_wait: bool,
) -> None:
    """Add every a,b pair of PAIRS_FILE (CSV, "-" for stdin) as one group.

    A progress bar on stderr follows the group; then the a,b,sum rows are written as CSV,
    in input order, the sum empty where an add failed (exit 1 if any did). With --json,
    stdout gets the group's final JSON instead (and the CSV goes to --output, if given).
    """
    pairs = _read(pairs_file)
    _check_output(output)
    body = group_body(pairs, task_options(queue, retry_policy, fail_times), chunk_size)
    accepted = session.client.post("/groups", body)
    group_id = accepted["group_id"]
    if no_wait:
        session.emit(accepted, group_id)
        return
    session.note(f"group {group_id}: {len(pairs)} adds queued")
    with (
        session.interruptible(f"group {group_id} goes on (GET /groups/{group_id})"),
        session.progress("adding") as update,
    ):
        final = follow_group(session.client, group_id, update, poll_interval)
    results = list(final.get("results") or [])
    if len(results) != len(pairs):
        raise ApiUnavailable(f"the API returned {len(results)} results for {len(pairs)} pairs")
    if session.json:
        session.emit({"group_id": group_id, **final})
        failed = (
            _write_csv(output, group_id, pairs, results) if output else int(final.get("failed", 0))
        )
    else:
        failed = _write_csv(output or "-", group_id, pairs, results)
    session.note(f"group {group_id}: {len(pairs) - failed} added, {failed} failed")
    if failed:
        raise TaskFailed(f"{failed} of {len(pairs)} adds failed; first: {_first_error(final)}")


@click.command()
@PAIRS_FILE
@task_option_flags
@POLL_INTERVAL
@NO_WAIT
@json_option
@pass_session
def chord(
    session: Session,
    pairs_file: IO[str],
    queue: str | None,
    retry_policy: str | None,
    fail_times: int,
    poll_interval: float,
    no_wait: bool,
) -> None:
    """Add every a,b pair of PAIRS_FILE in parallel, then print the total of all the sums.

    A progress bar on stderr follows the pairs; exit 1 if any add fails.
    """
    pairs = _read(pairs_file)
    accepted = session.client.post(
        "/chords", chord_body(pairs, task_options(queue, retry_policy, fail_times))
    )
    task_id, group_id = accepted["task_id"], accepted["group_id"]
    if no_wait:
        session.emit(accepted, task_id)
        return
    session.note(f"chord {task_id}: {len(pairs)} adds queued")
    with (
        session.interruptible(f"task {task_id} goes on: sumflow result {task_id} --wait"),
        session.progress("adding") as update,
    ):
        try:
            follow_group(session.client, group_id, update, poll_interval)
        except ApiRefused as exc:
            if exc.status != 404:  # no progress for this group: wait for the total alone
                raise
    finish_task(session, task_id)
