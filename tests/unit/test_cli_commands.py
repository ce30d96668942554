"""CLI commands for /chains, /groups, /chords and /schedules against a stand-in server (an
httpx transport): the requests they send, and what they print and exit with for each answer the
API can give, the rare ones included. tests/integration/test_cli*.py run them against the live
API.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from api.cli.errors import ExitCode
from api.cli.main import cli

Reply = tuple[int, Any]


class FakeApi:
    """Scripted answers per "METHOD /path" (in order; the last one repeats), requests kept."""

    def __init__(self, script: dict[str, list[Reply]]) -> None:
        self.script = {key: deque(replies) for key, replies in script.items()}
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        replies = self.script.get(f"{request.method} {request.url.path}")
        if not replies:
            return httpx.Response(404, json={"code": 404, "message": "Not Found"})
        status, body = replies.popleft() if len(replies) > 1 else replies[0]
        if body is None:
            return httpx.Response(status)
        return httpx.Response(status, json=body)

    def bodies(self, method: str, path: str) -> list[Any]:
        return [
            json.loads(r.content)
            for r in self.requests
            if r.method == method and r.url.path == path
        ]

    def run(self, *args: str, input: str | None = None) -> Result:
        transport = httpx.MockTransport(self.handle)
        return CliRunner().invoke(cli, list(args), obj=transport, input=input)


@pytest.fixture
def api() -> Callable[[dict[str, list[Reply]]], FakeApi]:
    return FakeApi


def error(status: int, message: str) -> Reply:
    return status, {"code": status, "status": "x", "message": message}


def test_chain_sends_the_numbers_and_waits_for_the_last_step(api: Any) -> None:
    fake = api(
        {
            "POST /chains": [(202, {"task_id": "t3", "task_ids": ["t1", "t2", "t3"]})],
            "GET /result/t3": [(200, {"status": "SUCCESS", "result": 10})],
        }
    )
    result = fake.run("chain", "1", "2", "3", "4", "--queue", "priority", "--wait")
    assert result.exit_code == 0, result.output
    assert result.stdout == "10\n"
    assert fake.bodies("POST", "/chains") == [{"numbers": [1, 2, 3, 4], "queue": "priority"}]
    waited = [r for r in fake.requests if r.url.path == "/result/t3"]
    assert waited[0].url.params["wait"] == "30"


def test_chain_without_wait_prints_the_last_task_id_or_the_json(api: Any) -> None:
    accepted = {"task_id": "t2", "task_ids": ["t1", "t2"]}
    fake = api({"POST /chains": [(202, accepted)]})
    assert fake.run("chain", "-1", "2.5").stdout == "t2\n"
    assert fake.bodies("POST", "/chains") == [{"numbers": [-1, 2.5]}]
    assert json.loads(fake.run("--json", "chain", "1", "2").stdout) == accepted


def test_chain_of_one_number_is_a_usage_error(api: Any) -> None:
    result = api({}).run("chain", "5")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == "sumflow: a chain needs at least two numbers\n"


def test_a_failed_chain_exits_1_with_the_message(api: Any) -> None:
    fake = api(
        {
            "POST /chains": [(202, {"task_id": "t2", "task_ids": ["t1", "t2"]})],
            "GET /result/t2": [(200, {"status": "FAILURE", "result": "RetriesExhausted: x"})],
        }
    )
    result = fake.run("chain", "1", "2", "--wait")
    assert result.exit_code == ExitCode.TASK_FAILED
    assert result.stdout == ""
    assert result.stderr == "sumflow: task t2 ended FAILURE: RetriesExhausted: x\n"


def pairs_file(tmp_path: Path, text: str = "a,b\n1,2\n3,4\n5,6\n") -> str:
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    return str(path)


def group_answers(*results: list[Any]) -> list[Reply]:
    """``GET /groups/<id>`` answers, one per list: a number is a sum, None a pair not done,
    a string a failed pair's message (null in ``results``, listed in ``errors``, as the API
    answers)."""
    return [
        (
            200,
            {
                "status": "STARTED",
                "total": len(r),
                "completed": sum(x is not None and not isinstance(x, str) for x in r),
                "failed": sum(isinstance(x, str) for x in r),
                "results": [None if isinstance(x, str) else x for x in r],
                "errors": [
                    {"task_id": f"t{i}", "index": i, "count": 1, "message": x}
                    for i, x in enumerate(r)
                    if isinstance(x, str)
                ],
            },
        )
        for r in results
    ]


def test_batch_follows_the_group_and_writes_csv(api: Any, tmp_path: Path) -> None:
    fake = api(
        {
            "POST /groups": [(202, {"group_id": "g1", "task_ids": ["t1"]})],
            "GET /groups/g1": group_answers([3, None, None], [3, 7, None], [3, 7, 11]),
        }
    )
    result = fake.run(
        "batch", pairs_file(tmp_path), "--chunk-size", "500", "--poll-interval", "0.05"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "a,b,sum\n1,2,3\n3,4,7\n5,6,11\n"
    assert fake.bodies("POST", "/groups") == [
        {"pairs": [[1, 2], [3, 4], [5, 6]], "chunk_size": 500}
    ]
    assert len([r for r in fake.requests if r.url.path == "/groups/g1"]) == 3
    assert "group g1: 3 added, 0 failed" in result.stderr


def test_batch_reads_stdin_and_writes_the_output_file(api: Any, tmp_path: Path) -> None:
    fake = api(
        {
            "POST /groups": [(202, {"group_id": "g1", "task_ids": ["t1", "t2"]})],
            "GET /groups/g1": group_answers([3, 0.30000000000000004]),
        }
    )
    out = tmp_path / "sums.csv"
    result = fake.run("batch", "-", "--output", str(out), input="1,2\n0.1,0.2\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert out.read_text() == "a,b,sum\n1,2,3\n0.1,0.2,0.30000000000000004\n"


def test_batch_with_a_failed_add_leaves_its_sum_empty_and_exits_1(api: Any, tmp_path: Path) -> None:
    fake = api(
        {
            "POST /groups": [(202, {"group_id": "g1", "task_ids": ["t1"]})],
            "GET /groups/g1": group_answers([3, "RetriesExhausted: gave up", 11]),
        }
    )
    result = fake.run("batch", pairs_file(tmp_path), "--fail-times", "1", "-r", "none")
    assert result.exit_code == ExitCode.TASK_FAILED
    assert result.stdout == "a,b,sum\n1,2,3\n3,4,\n5,6,11\n"
    assert result.stderr.endswith("sumflow: 1 of 3 adds failed; first: RetriesExhausted: gave up\n")
    assert fake.bodies("POST", "/groups")[0]["retry_policy"] == "none"


def test_batch_to_an_output_in_no_directory_is_a_usage_error_and_sends_nothing(
    api: Any, tmp_path: Path
) -> None:
    """Found only once the group was done, it ended in a traceback and the sums went unseen."""
    fake = api({})
    out = tmp_path / "missing" / "sums.csv"
    result = fake.run("batch", pairs_file(tmp_path), "--output", str(out))
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr == f"sumflow: cannot write --output {out}: no directory {out.parent}\n"
    assert fake.requests == []


def test_batch_that_cannot_write_its_output_says_where_the_sums_are(
    api: Any, tmp_path: Path
) -> None:
    fake = api(
        {
            "POST /groups": [(202, {"group_id": "g1", "task_ids": ["t1"]})],
            "GET /groups/g1": group_answers([3, 7, 11]),
        }
    )
    result = fake.run("batch", pairs_file(tmp_path), "--output", "/dev/full")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.endswith(
        "sumflow: cannot write --output /dev/full: No space left on device;"
        " the sums stay at GET /groups/g1\n"
    )


def test_batch_json_prints_the_final_group(api: Any, tmp_path: Path) -> None:
    fake = api(
        {
            "POST /groups": [(202, {"group_id": "g1", "task_ids": ["t1"]})],
            "GET /groups/g1": group_answers([3, 7, 11]),
        }
    )
    result = fake.run("--json", "batch", pairs_file(tmp_path))
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["group_id"] == "g1" and body["results"] == [3, 7, 11]


def test_batch_with_a_bad_csv_line_is_a_usage_error_and_sends_nothing(
    api: Any, tmp_path: Path
) -> None:
    fake = api({})
    result = fake.run("batch", pairs_file(tmp_path, "1,2\n3,four\n"))
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.strip().endswith("pairs.csv, line 2: 'four' is not a number")
    assert fake.requests == []


def test_batch_refused_by_the_api_exits_3_with_its_message(api: Any, tmp_path: Path) -> None:
    fake = api({"POST /groups": [error(422, "Invalid request: chunk_size: Must be >= 1.")]})
    result = fake.run("batch", pairs_file(tmp_path))
    assert result.exit_code == ExitCode.REFUSED
    assert result.stderr == "sumflow: HTTP 422: Invalid request: chunk_size: Must be >= 1.\n"


def test_chord_follows_its_group_then_prints_the_total(api: Any, tmp_path: Path) -> None:
    fake = api(
        {
            "POST /chords": [(202, {"task_id": "cb", "group_id": "g1"})],
            "GET /groups/g1": group_answers([3, None, 11], [3, 7, 11]),
            "GET /result/cb": [(200, {"status": "SUCCESS", "result": 21})],
        }
    )
    result = fake.run("chord", pairs_file(tmp_path), "--poll-interval", "0.05")
    assert result.exit_code == 0, result.output
    assert result.stdout == "21\n"
    assert fake.bodies("POST", "/chords") == [{"pairs": [[1, 2], [3, 4], [5, 6]]}]


def test_chord_waits_for_its_total_even_without_group_progress(api: Any, tmp_path: Path) -> None:
    fake = api(
        {
            "POST /chords": [(202, {"task_id": "cb", "group_id": "g1"})],
            "GET /result/cb": [(200, {"status": "SUCCESS", "result": 21})],
        }
    )  # GET /groups/g1 answers 404
    result = fake.run("--json", "chord", pairs_file(tmp_path))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"task_id": "cb", "status": "SUCCESS", "result": 21}


def test_chord_with_a_failed_member_exits_1_naming_it(api: Any, tmp_path: Path) -> None:
    message = "ChordError: add 3 + 4 failed: RetriesExhausted: gave up"
    fake = api(
        {
            "POST /chords": [(202, {"task_id": "cb", "group_id": "g1"})],
            "GET /groups/g1": group_answers([3, "RetriesExhausted: gave up", 11]),
            "GET /result/cb": [(200, {"status": "FAILURE", "result": message})],
        }
    )
    result = fake.run("chord", pairs_file(tmp_path))
    assert result.exit_code == ExitCode.TASK_FAILED
    assert result.stderr.endswith(f"sumflow: task cb ended FAILURE: {message}\n")


#: A schedule as the API answers it: every field of ScheduleSchema.
ENTRY = {
    "name": "nightly",
    "a": 1,
    "b": 2,
    "every": 60,
    "crontab": None,
    "enabled": True,
    "queue": "default",
    "retry_policy": None,
    "fail_times": 0,
    "expires_after": None,
    "next_run_at": "2026-11-24T08:00:00+00:00",
    "last_run_at": None,
    "total_run_count": 0,
}


def test_schedules_create_sends_the_contract_body(api: Any) -> None:
    fake = api({"POST /schedules": [(201, ENTRY)]})
    result = fake.run("schedules", "create", "nightly", "1", "2", "--every", "60")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "created nightly\nname: nightly\nsum: 1 + 2\nwhen: every 60 s\n"
    )
    assert fake.bodies("POST", "/schedules") == [{"name": "nightly", "a": 1, "b": 2, "every": 60}]

    cron = api({"POST /schedules": [(201, {**ENTRY, "every": None, "crontab": "*/5 * * * *"})]})
    result = cron.run(
        "schedules", "create", "five", "-1", "2", "--crontab", "*/5 * * * *", "--disabled"
    )
    assert result.exit_code == 0, result.output
    assert cron.bodies("POST", "/schedules") == [
        {"name": "five", "a": -1, "b": 2, "crontab": "*/5 * * * *", "enabled": False}
    ]


def test_schedules_create_needs_exactly_one_timing(api: Any) -> None:
    result = api({}).run("schedules", "create", "x", "1", "2")
    assert result.exit_code == ExitCode.USAGE
    assert "exactly one of --every SECONDS and --crontab EXPRESSION" in result.stderr


def test_schedules_name_in_use_exits_3(api: Any) -> None:
    fake = api({"POST /schedules": [error(409, "A schedule named 'nightly' already exists.")]})
    result = fake.run("schedules", "create", "nightly", "1", "2", "--every", "60")
    assert result.exit_code == ExitCode.REFUSED
    assert result.stderr == "sumflow: HTTP 409: A schedule named 'nightly' already exists.\n"


def test_schedules_list_pause_resume_delete_runs(api: Any) -> None:
    run = {"task_id": "t9", "status": "SUCCESS", "result": 3, "run_at": "2026-11-24T07:00:00Z"}
    fake = api(
        {
            "GET /schedules": [(200, {"schedules": [ENTRY]})],
            "PATCH /schedules/nightly": [(200, {**ENTRY, "enabled": False})],
            "DELETE /schedules/nightly": [(204, None)],
            "GET /schedules/nightly/runs": [(200, {"runs": [run]})],
        }
    )
    listing = fake.run("schedules", "list")
    assert listing.exit_code == 0 and "nightly" in listing.stdout and "every 60 s" in listing.stdout
    assert fake.run("schedules", "pause", "nightly").stdout == "paused nightly\n"
    assert fake.run("schedules", "resume", "nightly").stdout == "resumed nightly\n"
    assert fake.bodies("PATCH", "/schedules/nightly") == [{"enabled": False}, {"enabled": True}]
    assert fake.run("schedules", "delete", "nightly").stdout == "deleted nightly\n"
    assert json.loads(fake.run("schedules", "delete", "nightly", "--json").stdout) == {
        "name": "nightly",
        "deleted": True,
    }
    runs = fake.run("schedules", "runs", "nightly")
    assert runs.exit_code == 0 and "t9" in runs.stdout and "SUCCESS" in runs.stdout
    assert json.loads(fake.run("--json", "schedules", "runs", "nightly").stdout) == {"runs": [run]}


def test_schedules_update_sends_only_the_changes(api: Any) -> None:
    fake = api({"PATCH /schedules/nightly": [(200, {**ENTRY, "every": 30, "a": -5})]})
    result = fake.run("schedules", "update", "nightly", "--every", "30", "--a", "-5")
    assert result.exit_code == 0, result.output
    assert fake.bodies("PATCH", "/schedules/nightly") == [{"every": 30, "a": -5}]


def test_schedules_update_changes_the_task_options_too(api: Any) -> None:
    fake = api({"PATCH /schedules/nightly": [(200, {**ENTRY, "queue": "priority"})]})
    result = fake.run(
        "schedules", "update", "nightly", "-q", "priority", "-r", "patient", "--fail-times", "0"
    )
    assert result.exit_code == 0, result.output
    assert fake.bodies("PATCH", "/schedules/nightly") == [
        {"queue": "priority", "retry_policy": "patient", "fail_times": 0}
    ]
    nothing = fake.run("schedules", "update", "nightly")
    assert nothing.exit_code == 2 and "--fail-times or --expires-after" in nothing.output


def test_schedules_take_expires_after_and_update_removes_it_with_never(api: Any) -> None:
    fake = api(
        {
            "POST /schedules": [(201, {**ENTRY, "expires_after": 30})],
            "PATCH /schedules/nightly": [(200, ENTRY), (200, {**ENTRY, "expires_after": 5})],
        }
    )
    created = fake.run(
        "schedules", "create", "nightly", "1", "2", "--every", "60", "--expires-after", "30"
    )
    assert created.exit_code == 0, created.output
    assert "expires_after: 30\n" in created.stdout
    assert fake.bodies("POST", "/schedules") == [
        {"name": "nightly", "a": 1, "b": 2, "every": 60, "expires_after": 30}
    ]
    removed = fake.run("schedules", "update", "nightly", "--expires-after", "never")
    assert removed.exit_code == 0, removed.output
    assert "expires_after: - (runs never expire)\n" in removed.stdout
    assert fake.run("schedules", "update", "nightly", "--expires-after", "5").exit_code == 0
    assert fake.bodies("PATCH", "/schedules/nightly") == [
        {"expires_after": None},
        {"expires_after": 5},
    ]


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "soon"])
def test_a_bad_expires_after_is_a_usage_error(api: Any, value: str) -> None:
    fake = api({})
    result = fake.run("schedules", "update", "nightly", "--expires-after", value)
    assert result.exit_code == ExitCode.USAGE
    assert "Invalid value for '--expires-after'" in result.stderr
    assert fake.requests == []


def test_schedules_create_takes_fail_times_and_runs_takes_a_limit(api: Any) -> None:
    fake = api(
        {
            "POST /schedules": [(201, ENTRY)],
            "GET /schedules/nightly/runs": [(200, {"runs": []})],
        }
    )
    created = fake.run(
        "schedules", "create", "nightly", "1", "2", "--every", "60", "--fail-times", "2"
    )
    assert created.exit_code == 0, created.output
    assert fake.bodies("POST", "/schedules") == [
        {"name": "nightly", "a": 1, "b": 2, "every": 60, "fail_times": 2}
    ]
    assert fake.run("schedules", "runs", "nightly", "--limit", "5").exit_code == 0
    (request,) = [r for r in fake.requests if r.url.path == "/schedules/nightly/runs"]
    assert request.url.params["limit"] == "5"


def test_schedules_show_prints_every_field_and_dicts_as_json(api: Any) -> None:
    policy = {"max_retries": 5, "backoff": 10, "backoff_max": 240, "jitter": True}
    entry = {
        **ENTRY,
        "queue": "priority",
        "retry_policy": policy,
        "fail_times": 2,
        "last_run_at": "2026-11-24T07:59:00+00:00",
        "total_run_count": 7,
    }
    fake = api({"GET /schedules/nightly": [(200, entry)]})
    result = fake.run("schedules", "show", "nightly")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "name: nightly",
        "sum: 1 + 2",
        "when: every 60 s",
        "enabled: yes",
        "queue: priority",
        'retry_policy: {"max_retries": 5, "backoff": 10, "backoff_max": 240, "jitter": true}',
        "fail_times: 2",
        "expires_after: - (runs never expire)",
        "last_run_at: 2026-11-24T07:59:00+00:00",
        "next_run_at: 2026-11-24T08:00:00+00:00",
        "total_run_count: 7",
    ]
    assert json.loads(fake.run("schedules", "show", "nightly", "--json").stdout) == entry


def test_schedules_show_prints_nulls_and_fields_it_does_not_know(api: Any) -> None:
    # A fresh schedule: no policy of its own, never run. And a field from a newer API.
    fake = api({"GET /schedules/nightly": [(200, {**ENTRY, "owner": {"team": "ops"}})]})
    result = fake.run("schedules", "show", "nightly")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[4:] == [
        "queue: default",
        "retry_policy: - (the default policy)",
        "fail_times: 0",
        "expires_after: - (runs never expire)",
        "last_run_at: - (never)",
        "next_run_at: 2026-11-24T08:00:00+00:00",
        "total_run_count: 0",
        'owner: {"team": "ops"}',
    ]


def test_unknown_schedule_exits_3(api: Any) -> None:
    fake = api({"GET /schedules/nope": [error(404, "No schedule named 'nope'.")]})
    result = fake.run("schedules", "show", "nope")
    assert result.exit_code == ExitCode.REFUSED
    assert result.stderr == "sumflow: HTTP 404: No schedule named 'nope'.\n"


def test_names_are_escaped_in_paths(api: Any) -> None:
    fake = api({})
    fake.run("schedules", "show", "a/b c")
    assert fake.requests[0].url.raw_path == b"/schedules/a%2Fb%20c"


@pytest.mark.parametrize(
    ("args", "raw_path"),
    [
        (("result", "../schedules/nightly"), b"/result/..%2Fschedules%2Fnightly"),
        (("revoke", "../schedules/nightly"), b"/tasks/..%2Fschedules%2Fnightly"),
        (("result", "../health", "--wait"), b"/result/..%2Fhealth?wait=30"),
        (("result", "x?wait=1"), b"/result/x%3Fwait%3D1"),
        (("revoke", ".."), b"/tasks/%2E%2E"),
        (("schedules", "show", "."), b"/schedules/%2E"),
        (("schedules", "delete", ".."), b"/schedules/%2E%2E"),
    ],
)
def test_ids_and_names_stay_one_path_segment(
    api: Any, args: tuple[str, ...], raw_path: bytes
) -> None:
    """A task id is sent as one path segment: `revoke ../schedules/nightly` deleted that
    schedule, and `result ../health` printed "ok" and exited 0."""
    fake = api({})
    result = fake.run(*args)
    assert result.exit_code == ExitCode.REFUSED, result.output
    assert [request.url.raw_path for request in fake.requests] == [raw_path]


@pytest.mark.parametrize(
    "args",
    [("result", ""), ("revoke", " "), ("schedules", "show", ""), ("schedules", "runs", "")],
)
def test_an_empty_id_or_name_is_a_usage_error(api: Any, args: tuple[str, ...]) -> None:
    fake = api({})
    result = fake.run(*args)
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "must not be empty" in result.stderr
    assert fake.requests == []


@pytest.mark.parametrize("args", [("queues",), ("add", "1", "2", "--wait")])
def test_ctrl_c_before_any_wait_exits_130_in_one_line(args: tuple[str, ...]) -> None:
    """Click's own answer, "Aborted!" and exit 1, reads as a failed task to a script."""

    def interrupt(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    result = CliRunner().invoke(cli, list(args), obj=httpx.MockTransport(interrupt))
    assert result.exit_code == ExitCode.INTERRUPTED, result.output
    assert result.stderr == (
        "sumflow: interrupted; a request already sent may still have been carried out\n"
    )


def test_server_errors_exit_4(api: Any) -> None:
    fake = api({"GET /queues": [error(500, "Internal error; it has been logged.")]})
    result = fake.run("queues")
    assert result.exit_code == ExitCode.UNAVAILABLE
    assert result.stderr == "sumflow: HTTP 500: Internal error; it has been logged.\n"


def test_api_key_is_sent_as_a_bearer_token(api: Any) -> None:
    fake = api({"GET /queues": [(200, {"queues": []})]})
    fake.run("--api-key", "k1", "queues")
    assert fake.requests[0].headers["Authorization"] == "Bearer k1"
    fake.run("queues")
    assert "Authorization" not in fake.requests[1].headers


def test_url_must_be_http(api: Any) -> None:
    result = api({}).run("--url", "localhost:5000", "queues")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == (
        "sumflow: --url must start with http:// or https://, got 'localhost:5000'\n"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://[::1", "sumflow: --url is not a valid URL: 'http://[::1'\n"),
        ("http://", "sumflow: --url names no host: 'http://'\n"),
        ("http://127.0.0.1:port", "sumflow: --url is not a valid URL: 'http://127.0.0.1:port'\n"),
    ],
)
def test_a_malformed_url_is_a_usage_error(api: Any, url: str, message: str) -> None:
    """A traceback (an httpx.InvalidURL), or for a URL with no host exit 4, "cannot reach"."""
    fake = api({})
    result = fake.run("--url", url, "queues")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr == message
    assert fake.requests == []


@pytest.mark.parametrize(
    "args",
    [
        ("add", "1", "2", "--countdown", "nan"),
        ("add", "1", "2", "--countdown", "inf"),
        ("add", "1", "2", "--countdown", "1e400"),
        ("schedules", "create", "x", "1", "2", "--every", "inf"),
        ("schedules", "update", "x", "--every", "nan"),
        ("--timeout", "inf", "add", "1", "2"),
        ("--timeout", "nan", "add", "1", "2"),
        ("batch", "-", "--poll-interval", "inf"),
    ],
)
def test_durations_must_be_finite_numbers_or_it_is_a_usage_error(
    api: Any, args: tuple[str, ...]
) -> None:
    fake = api({})
    result = fake.run(*args, input="1,2\n")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "Invalid value" in result.output
    assert fake.requests == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "1", "2", "--fail-times", "x"), "'--fail-times': 'x' is not a valid integer."),
        (("batch", "-", "--chunk-size", "1.5"), "'--chunk-size': '1.5' is not a valid integer."),
        (("schedules", "runs", "s", "--limit", "all"), "'--limit': 'all' is not a valid integer."),
        (("--timeout", "abc", "queues"), "'--timeout': 'abc' is not a number of seconds."),
        (
            ("add", "1", "2", "--countdown", "soon"),
            "'--countdown': 'soon' is not a number of seconds.",
        ),
        (
            ("schedules", "update", "s", "--expires-after", "x"),
            "'--expires-after': 'x' is not a whole number of seconds, or never.",
        ),
    ],
)
def test_a_word_where_a_number_belongs_says_what_is_wanted(
    api: Any, args: tuple[str, ...], message: str
) -> None:
    """click said "'x' is not a valid integer range." and "'abc' is not a valid seconds."."""
    result = api({}).run(*args, input="1,2\n")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert result.stderr.splitlines()[-1] == f"Error: Invalid value for {message}"


def test_batch_of_a_file_that_is_not_utf8_is_a_usage_error(api: Any, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.csv"
    pairs.write_bytes(b"\xff\xfe1,2\n")
    fake = api({})
    result = fake.run("batch", str(pairs))
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "pairs.csv: not UTF-8 text (invalid start byte at byte 0)" in result.output
    assert fake.requests == []
