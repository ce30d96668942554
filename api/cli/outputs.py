"""What the command line prints: numbers, CSV of sums, and tables built from API answers.

Pure functions of the API's JSON, so they can be tested without a server.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from typing import IO, Any

from rich.table import Table
from rich.text import Text

from api.cli.inputs import Pair

__all__ = [
    "CSV_HEADER",
    "describe_when",
    "format_number",
    "group_progress",
    "health_lines",
    "is_sum",
    "policies_table",
    "queues_table",
    "runs_table",
    "schedule_lines",
    "schedules_table",
    "write_sums",
]

CSV_HEADER = ("a", "b", "sum")


def is_sum(value: Any) -> bool:
    """A result that is a number (a failed member's result is an error message)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_number(value: Any) -> str:
    """Integers exactly, floats at their shortest round-trip form (``0.30000000000000004``)."""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def write_sums(out: IO[str], pairs: Sequence[Pair], results: Sequence[Any]) -> int:
    """Write ``a,b,sum`` rows in request order, the sum empty where an add failed.
    Returns how many failed."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    failed = 0
    for (a, b), result in zip(pairs, results, strict=True):
        if is_sum(result):
            writer.writerow((format_number(a), format_number(b), format_number(result)))
        else:
            failed += 1
            writer.writerow((format_number(a), format_number(b), ""))
    return failed


#: Group statuses after which nothing more will change (GET /groups/<id>).
FINISHED_GROUP_STATUSES = frozenset({"SUCCESS", "PARTIAL", "FAILURE"})


def group_progress(body: Mapping[str, Any]) -> tuple[int, int]:
    """(pairs finished, total) from ``GET /groups/<id>``: added or failed, both count.

    A failed pair's result stays null, so counting non-null results would wait forever for a
    batch with a failure; ``completed`` and ``failed`` say how many are settled, and a
    finished status settles them all."""
    total = int(body["total"])
    if body["status"] in FINISHED_GROUP_STATUSES:
        return total, total
    return int(body["completed"]) + int(body["failed"]), total


def _row(table: Table, *cells: str | Text) -> None:
    """Add a row of plain text: data is never read as rich markup."""
    table.add_row(*(cell if isinstance(cell, Text) else Text(cell) for cell in cells))


def queues_table(body: Mapping[str, Any]) -> Table:
    table = Table("queue", "messages", "workers", title="Queues")
    for queue in body.get("queues", []):
        workers = ", ".join(queue.get("workers", []))
        _row(table, queue["name"], str(queue.get("messages", 0)), workers or Text("none", "red"))
    return table


def policies_table(body: Mapping[str, Any]) -> Table:
    default = body.get("default")
    table = Table(
        "policy", "max_retries", "backoff", "backoff_max", "jitter", title="Retry policies"
    )
    for policy in body.get("policies", []):
        name = policy["name"] + (" (default)" if policy["name"] == default else "")
        _row(
            table,
            name,
            str(policy["max_retries"]),
            f"{policy['backoff']:g} s",
            f"{policy['backoff_max']:g} s",
            "yes" if policy["jitter"] else "no",
        )
    return table


def health_lines(body: Mapping[str, Any]) -> list[str]:
    """A few lines a person reads at a glance: the verdict, Redis, workers, beat, problems."""
    checks = body.get("checks", {})
    verdict = "degraded" if body.get("degraded") else body.get("status", "?")
    lines = [f"status: {verdict}", f"redis: {checks.get('redis', '?')}"]
    lines.append(f"workers: {checks.get('workers', '?')}")
    for name, queues in sorted((body.get("workers") or {}).items()):
        lines.append(f"  {name}: {', '.join(queues)}")
    beat = body.get("beat") or {}
    if beat:
        ttl = beat.get("lock_ttl_seconds")
        lock = f" (lock expires in {ttl:.1f} s unless renewed)" if ttl is not None else ""
        lines.append(f"beat: {beat.get('status', '?')}{lock}")
    lines += [f"problem: {problem}" for problem in body.get("problems", [])]
    return lines


def describe_when(entry: Mapping[str, Any]) -> str:
    if entry.get("every") is not None:
        return f"every {entry['every']:g} s"
    if entry.get("crontab"):
        return f"cron {entry['crontab']}"
    return "?"


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def schedules_table(body: Mapping[str, Any]) -> Table:
    table = Table("name", "sum", "when", "queue", "enabled", "next run", "runs", title="Schedules")
    for entry in body.get("schedules", []):
        _row(
            table,
            entry["name"],
            f"{format_number(entry.get('a'))} + {format_number(entry.get('b'))}",
            describe_when(entry),
            _text(entry.get("queue")),
            "yes" if entry.get("enabled", True) else "no",
            _text(entry.get("next_run_at")),
            _text(entry.get("total_run_count")),
        )
    return table


#: Fields of a schedule that its first four lines show (name, sum, when, enabled).
_SCHEDULE_HEAD = frozenset({"name", "a", "b", "every", "crontab", "enabled"})
#: The other fields, one line each in this order; any field not named here follows them.
_SCHEDULE_DETAILS = (
    "queue",
    "retry_policy",
    "fail_times",
    "expires_after",
    "last_run_at",
    "next_run_at",
    "total_run_count",
)
#: What null stands for, where the API gives it a meaning.
_SCHEDULE_NULLS = {
    "retry_policy": "the default policy",
    "expires_after": "runs never expire",
    "last_run_at": "never",
    "next_run_at": "disabled",
}


def _detail(key: str, value: Any) -> str:
    """One field's value: null as ``-`` (with its meaning), objects, lists and booleans as
    JSON, numbers as `format_number` writes them."""
    if value is None:
        meaning = _SCHEDULE_NULLS.get(key)
        return f"- ({meaning})" if meaning else "-"
    if isinstance(value, Mapping | list | bool):
        return json.dumps(value)
    return format_number(value)


def schedule_lines(entry: Mapping[str, Any]) -> list[str]:
    """Every field of a schedule as the API answers it, one ``key: value`` line each (a and
    b as one sum, every or crontab as when)."""
    lines = [
        f"name: {entry.get('name')}",
        f"sum: {format_number(entry.get('a'))} + {format_number(entry.get('b'))}",
        f"when: {describe_when(entry)}",
        f"enabled: {'yes' if entry.get('enabled', True) else 'no'}",
    ]
    rest = [key for key in entry if key not in _SCHEDULE_HEAD and key not in _SCHEDULE_DETAILS]
    for key in (*(key for key in _SCHEDULE_DETAILS if key in entry), *sorted(rest)):
        lines.append(f"{key}: {_detail(key, entry[key])}")
    return lines


def runs_table(body: Mapping[str, Any], name: str = "") -> Table:
    table = Table("run at", "task id", "status", "result", title=f"Runs of {name}".strip())
    for run in body.get("runs", []):
        result = run.get("result")
        _row(
            table,
            _text(run.get("run_at")),
            _text(run.get("task_id")),
            _text(run.get("status")),
            "-" if result is None else format_number(result),
        )
    return table
