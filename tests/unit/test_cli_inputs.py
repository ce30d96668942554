"""The command line's pure parts: numbers, CSV in and out, request bodies, output formatting."""

from __future__ import annotations

import ast
import io
import sys
from pathlib import Path

import pytest
from rich.console import Console

from api.cli.bodies import (
    chain_body,
    chord_body,
    group_body,
    parse_retry_policy,
    schedule_body,
    schedule_changes,
    task_options,
)
from api.cli.inputs import InputError, parse_number, read_pairs
from api.cli.outputs import (
    format_number,
    group_progress,
    health_lines,
    policies_table,
    queues_table,
    runs_table,
    schedule_lines,
    schedules_table,
    write_sums,
)


def render(renderable: object) -> str:
    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", 5),
        ("-7", -7),
        ("+3", 3),
        (" 42 ", 42),
        ("2.5", 2.5),
        (".5", 0.5),
        ("1e3", 1000.0),
        ("-1.5E-2", -0.015),
        ("9223372036854775808", 2**63),
    ],
)
def test_numbers_parse_exactly(text: str, expected: float) -> None:
    value = parse_number(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    "text", ["", "x", "5a", "nan", "inf", "-Infinity", "1_000", "0x10", "1e999", "\u0663", "\uff15"]
)
def test_non_numbers_are_refused(text: str) -> None:
    with pytest.raises(InputError):
        parse_number(text)


def test_a_number_too_long_to_convert_is_refused_by_its_length() -> None:
    with pytest.raises(InputError, match="^a number of 5000 digits is too long$"):
        parse_number("-" + "9" * 5000)


def test_pairs_skip_header_blank_lines_and_comments() -> None:
    lines = ["a,b\n", "1,2\n", "\n", "# a comment\n", " -3 , 4.5 \n", "7,8"]
    assert read_pairs(lines) == [(1, 2), (-3, 4.5), (7, 8)]


def test_pairs_without_header() -> None:
    assert read_pairs(["5,3\n"]) == [(5, 3)]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["a,b\n", "1,2\n", "3,x\n"], "pairs.csv, line 3: 'x' is not a number"),
        (["1,2\n", "1,2,3\n"], "pairs.csv, line 2: expected two numbers 'a,b', got 3 fields"),
        (["1\n"], "pairs.csv, line 1: expected two numbers 'a,b', got 1 fields"),
        (["a,b\n", "\n"], "pairs.csv: no pairs found"),
        ([], "pairs.csv: no pairs found"),
    ],
)
def test_bad_csv_names_the_line(lines: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(")) as caught:
        read_pairs(lines, source="pairs.csv")
    assert str(caught.value).startswith(message)


def test_sums_are_written_as_csv_in_request_order() -> None:
    out = io.StringIO()
    pairs = [(5, 3), (0.1, 0.2), (2**62, 2**62), (1, "x")]
    results = [8, 0.30000000000000004, 2**63, "RetriesExhausted: gave up"]
    assert write_sums(out, pairs, results) == 1  # type: ignore[arg-type]
    assert out.getvalue() == (
        "a,b,sum\n5,3,8\n0.1,0.2,0.30000000000000004\n"
        "4611686018427387904,4611686018427387904,9223372036854775808\n1,x,\n"
    )


def test_format_number_keeps_integers_exact_and_floats_short() -> None:
    assert format_number(8) == "8"
    assert format_number(8.0) == "8.0"
    assert format_number(2**70) == str(2**70)


def test_group_progress_counts_failed_pairs_as_settled() -> None:
    # A failed pair's result stays null: without this a batch with a failure never ends.
    running = {
        "status": "STARTED",
        "total": 3,
        "completed": 1,
        "failed": 1,
        "results": [3, None, None],
    }
    assert group_progress(running) == (2, 3)
    finished = {
        "status": "FAILURE",
        "total": 2,
        "completed": 0,
        "failed": 2,
        "results": [None, None],
    }
    assert group_progress(finished) == (2, 2)


def test_task_options_send_only_what_was_given() -> None:
    assert task_options() == {}
    assert task_options("priority", "aggressive", 2) == {
        "queue": "priority",
        "retry_policy": "aggressive",
        "fail_times": 2,
    }


def test_retry_policy_may_be_inline_json() -> None:
    inline = '{"max_retries": 1, "backoff": 0.5, "backoff_max": 5, "jitter": false}'
    assert parse_retry_policy(inline) == {
        "max_retries": 1,
        "backoff": 0.5,
        "backoff_max": 5,
        "jitter": False,
    }
    assert parse_retry_policy("patient") == "patient"
    with pytest.raises(InputError, match="not valid JSON"):
        parse_retry_policy("{max_retries: 1}")


def test_workflow_bodies_match_the_contract() -> None:
    options = {"queue": "priority"}
    assert chain_body([1, 2, 3, 4], options) == {"numbers": [1, 2, 3, 4], "queue": "priority"}
    with pytest.raises(InputError, match="at least two"):
        chain_body([1], {})
    pairs = [(1, 2), (3, 4)]
    assert group_body(pairs, {}, 500) == {"pairs": [[1, 2], [3, 4]], "chunk_size": 500}
    assert group_body(pairs, {}) == {"pairs": [[1, 2], [3, 4]]}
    assert chord_body(pairs, {"fail_times": 1}) == {"pairs": [[1, 2], [3, 4]], "fail_times": 1}


def test_schedule_bodies_match_the_contract() -> None:
    assert schedule_body("nightly", 1, 2, every=60) == {
        "name": "nightly",
        "a": 1,
        "b": 2,
        "every": 60,
    }
    assert schedule_body(
        "cron", 1, 2, crontab="*/5 * * * *", queue="priority", retry_policy="none", enabled=False
    ) == {
        "name": "cron",
        "a": 1,
        "b": 2,
        "crontab": "*/5 * * * *",
        "queue": "priority",
        "retry_policy": "none",
        "enabled": False,
    }
    with pytest.raises(InputError, match="exactly one of --every"):
        schedule_body("x", 1, 2)
    with pytest.raises(InputError, match="exactly one of --every"):
        schedule_body("x", 1, 2, every=5, crontab="* * * * *")
    assert schedule_changes(enabled=False) == {"enabled": False}
    assert schedule_changes(every=30, a=-1) == {"every": 30, "a": -1}
    with pytest.raises(InputError, match="nothing to change"):
        schedule_changes()


def test_tables_show_the_api_answers() -> None:
    queues = render(
        queues_table(
            {
                "queues": [
                    {"name": "default", "messages": 3, "workers": ["w1@h"]},
                    {"name": "priority", "messages": 0, "workers": []},
                ]
            }
        )
    )
    assert "default" in queues and "w1@h" in queues and "none" in queues
    policies = render(
        policies_table(
            {
                "default": "default",
                "policies": [
                    {
                        "name": "default",
                        "max_retries": 3,
                        "backoff": 1,
                        "backoff_max": 30,
                        "jitter": True,
                    },
                ],
            }
        )
    )
    assert "default (default)" in policies and "30 s" in policies
    entry = {
        "name": "nightly",
        "a": 1,
        "b": 2,
        "every": 60,
        "enabled": False,
        "next_run_at": "2026-01-01T00:00:00+00:00",
        "total_run_count": 4,
    }
    table = render(schedules_table({"schedules": [entry]}))
    assert "nightly" in table and "1 + 2" in table and "every 60 s" in table and "no" in table
    assert schedule_lines({**entry, "every": None, "crontab": "*/5 * * * *"})[2] == (
        "when: cron */5 * * * *"
    )
    runs = render(
        runs_table(
            {"runs": [{"task_id": "t1", "status": "SUCCESS", "result": 3, "run_at": "now"}]},
            "nightly",
        )
    )
    assert "Runs of nightly" in runs and "t1" in runs and "SUCCESS" in runs


def test_table_cells_are_not_read_as_markup() -> None:
    out = render(
        queues_table({"queues": [{"name": "[bold]q[/bold]", "messages": 0, "workers": ["w"]}]})
    )
    assert "[bold]q[/bold]" in out


def test_health_lines_read_at_a_glance() -> None:
    body = {
        "status": "ok",
        "redis": "ok",
        "workers": {"w1@h": ["default"]},
        "beat": {"status": "down", "lock_ttl_seconds": None},
        "checks": {"redis": "ok", "workers": "partial", "beat": "down"},
        "degraded": True,
        "problems": ["No worker consumes queue 'priority'."],
    }
    assert health_lines(body) == [
        "status: degraded",
        "redis: ok",
        "workers: partial",
        "  w1@h: default",
        "beat: down",
        "problem: No worker consumes queue 'priority'.",
    ]


def test_the_cli_imports_no_server_code() -> None:
    """The client speaks HTTP only: no Flask, Celery, Redis or server modules."""
    allowed_roots = {"__future__", "click", "httpx", "rich", "api"}
    stdlib = set(sys.stdlib_module_names)
    paths = sorted((Path(__file__).parents[2] / "api" / "cli").glob("*.py"))
    assert {"main.py", "client.py"} <= {path.name for path in paths}  # not a vacuous pass
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                assert root in allowed_roots | stdlib, f"{path.name} imports {name}"
                if root == "api":
                    assert name.startswith("api.cli"), f"{path.name} imports {name}"
