"""The `sumflow` command line against a real running stack: the web server serving the API
on a free port, the suite's Redis and a real worker. Commands are judged by their stdout, stderr
and exit code. A few run the installed console script as a subprocess, the way a person or a
script runs it; the rest run in-process through click's CliRunner (same code, same HTTP,
without paying the interpreter's start-up for each call).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli.errors import ExitCode
from api.cli.main import cli
from config.redis_server import free_port
from tests.support import BIN, ROOT, Service, service_env, start_api

pytestmark = pytest.mark.integration

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def console_script(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `sumflow` script; SUMFLOW_URL points it at the API."""
    env = service_env("redis://unused", SUMFLOW_URL=url)
    return subprocess.run(
        [str(BIN / "sumflow"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def into_closed_pipe(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed script with stdout a pipe whose reader has already gone, as
    `sumflow ... | head -0` leaves it: every write to stdout fails with EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [str(BIN / "sumflow"), *args],
            env=service_env("redis://unused", SUMFLOW_URL=url),
            cwd=ROOT,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)


def sumflow(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command in-process; the answer has the shape of a finished subprocess."""
    result = CliRunner().invoke(cli, ["--url", url, *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def one_line(text: str) -> str:
    assert text.endswith("\n") and text.count("\n") == 1, text
    return text.strip()


@pytest.fixture(scope="module")
def api_without_redis(logs_dir: Path) -> Iterator[str]:
    """The API up, its Redis not: every call that needs Redis answers 503."""
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    service, url = start_api(dead_redis, logs_dir / "web-no-redis.log", WEB_WORKERS=1)
    yield url
    service.stop()


def test_add_and_wait_prints_the_sum(live_api: str, worker: Service) -> None:
    done = console_script(live_api, "add", "5", "3", "--wait")
    assert (done.returncode, done.stdout, done.stderr) == (0, "8\n", "")
    negative = sumflow(live_api, "add", "-7", "2.5", "-w")
    assert (negative.returncode, negative.stdout) == (0, "-4.5\n")
    big = sumflow(live_api, "add", str(2**62), str(2**62), "--wait")
    assert big.stdout == f"{2**63}\n"


def test_add_prints_the_task_id_and_result_reads_it(live_api: str, worker: Service) -> None:
    task_id = one_line(sumflow(live_api, "add", "40", "2").stdout)
    assert UUID.match(task_id)
    assert sumflow(live_api, "result", task_id, "--wait").stdout == "42\n"
    assert sumflow(live_api, "result", task_id).stdout == "SUCCESS 42\n"


def test_json_output_is_the_apis_answer(live_api: str, worker: Service) -> None:
    done = sumflow(live_api, "--json", "add", "1", "2", "--wait")
    body = json.loads(done.stdout)
    assert body["status"] == "SUCCESS" and body["result"] == 3 and UUID.match(body["task_id"])
    accepted = json.loads(sumflow(live_api, "add", "1", "2", "--json").stdout)
    assert list(accepted) == ["task_id"]


def test_a_failed_task_exits_1_with_its_message(live_api: str, worker: Service) -> None:
    failed = console_script(live_api, "add", "1", "1", "--fail-times", "1", "-r", "none", "--wait")
    assert failed.returncode == ExitCode.TASK_FAILED
    assert failed.stdout == ""
    line = one_line(failed.stderr)
    assert line.startswith("sumflow: task ") and line.endswith(
        "ended FAILURE: RetriesExhausted: gave up after 1 attempt: "
        "simulated transient failure 1 of 1"
    )
    # Read again without --wait, the failure exits 1 just the same.
    task_id = line.split()[2]
    shown = console_script(live_api, "result", task_id)
    assert (shown.returncode, shown.stdout, one_line(shown.stderr)) == (1, "", line)


def test_retries_with_an_inline_policy(live_api: str, worker: Service) -> None:
    policy = '{"max_retries": 2, "backoff": 0.1, "backoff_max": 1, "jitter": false}'
    done = sumflow(live_api, "add", "2", "2", "--fail-times", "2", "-r", policy, "--wait")
    assert (done.returncode, done.stdout) == (0, "4\n")


def test_input_the_api_refuses_exits_3_with_its_message(live_api: str) -> None:
    refused = console_script(live_api, "add", "1", "2", "--queue", "bulk")
    assert refused.returncode == ExitCode.REFUSED
    assert refused.stdout == ""
    assert one_line(refused.stderr) == (
        "sumflow: HTTP 422: Invalid request: queue: Unknown queue 'bulk'; "
        "configured queues: default, priority."
    )
    unknown = sumflow(live_api, "result", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == ExitCode.REFUSED
    assert "HTTP 404: No task with id" in one_line(unknown.stderr)


def test_bad_arguments_are_usage_errors(live_api: str) -> None:
    bad = console_script(live_api, "add", "five", "3")
    assert bad.returncode == ExitCode.USAGE
    assert "Invalid value for 'A': 'five' is not a number" in bad.stderr
    assert sumflow(live_api, "add", "nan", "3").returncode == ExitCode.USAGE


def test_revoke_a_waiting_task(live_api: str, worker: Service) -> None:
    task_id = one_line(sumflow(live_api, "add", "1", "2", "--countdown", "60").stdout)
    revoked = sumflow(live_api, "revoke", task_id)
    assert (revoked.returncode, revoked.stdout) == (0, f"revoked {task_id}\n")
    shown = sumflow(live_api, "result", task_id)
    assert (shown.returncode, shown.stdout) == (ExitCode.TASK_FAILED, "")
    assert one_line(shown.stderr).startswith(f"sumflow: task {task_id} ended REVOKED: ")
    again = sumflow(live_api, "revoke", task_id)
    assert again.returncode == ExitCode.REFUSED
    assert "HTTP 409" in one_line(again.stderr)


def test_health_queues_and_retry_policies(live_api: str, worker: Service) -> None:
    health = sumflow(live_api, "health")
    assert health.returncode == 0
    lines = health.stdout.splitlines()
    assert lines[1] == "redis: ok"
    assert any(line.startswith(f"  {worker.name}@") for line in lines)
    body = json.loads(sumflow(live_api, "health", "--json").stdout)
    assert body["status"] == "ok" and body["checks"]["redis"] == "ok"
    # The shared worker leaves "priority" unserved: degraded, and --strict says so with exit 1.
    strict = sumflow(live_api, "health", "--strict")
    assert strict.returncode == ExitCode.TASK_FAILED
    assert "No worker consumes queue 'priority'." in one_line(strict.stderr)

    queues = sumflow(live_api, "queues")
    assert queues.returncode == 0
    assert "default" in queues.stdout and "priority" in queues.stdout
    listed = json.loads(sumflow(live_api, "--json", "queues").stdout)
    assert [q["name"] for q in listed["queues"]] == ["default", "priority"]

    policies = sumflow(live_api, "retry-policies")
    assert policies.returncode == 0
    for name in ("none", "default (default)", "aggressive", "patient"):
        assert name in policies.stdout
    assert json.loads(sumflow(live_api, "retry-policies", "--json").stdout)["default"] == "default"


def test_a_reader_that_goes_early_ends_every_command_quietly_with_141(live_api: str) -> None:
    # The shell's code for a writer ended by SIGPIPE (128 + 13), as Ctrl-C's is 130: not 1,
    # which says a task failed, and no traceback. The group's own output (--help, --version),
    # and a command's plain lines, rich table or JSON: one of each way to print.
    for command in (["--help"], ["health"], ["queues"], ["--json", "schedules", "list"]):
        ended = into_closed_pipe(live_api, *command)
        assert (command, ended.returncode, ended.stderr) == (command, ExitCode.READER_GONE, "")


def test_api_down_exits_4_with_one_line() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    for command in (["add", "1", "2"], ["health"], ["queues"]):
        down = (console_script if command[0] == "add" else sumflow)(nobody, *command)
        assert down.returncode == ExitCode.UNAVAILABLE
        assert down.stdout == ""
        assert one_line(down.stderr).startswith(f"sumflow: cannot reach the API at {nobody}:")


def test_api_without_redis_exits_4_with_its_message(api_without_redis: str) -> None:
    add = console_script(api_without_redis, "add", "1", "2")
    assert add.returncode == ExitCode.UNAVAILABLE
    assert one_line(add.stderr).startswith("sumflow: HTTP 503: Redis is unavailable, try again")
    health = sumflow(api_without_redis, "health")
    assert health.returncode == ExitCode.UNAVAILABLE
    assert one_line(health.stderr).startswith("sumflow: HTTP 503: Redis does not answer")
