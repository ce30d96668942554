"""A beat that cannot start: one clear line and exit status 1, in text and in JSON.

Celery's beat logs a failed start as a CRITICAL record with its traceback, then re-raises;
Python printed the exception again into the stderr Celery had replaced with a logging proxy,
one WARNING line per fragment of the printout (some 1,340 lines of "^", "." and the like).
These beats run against a port nothing listens on, with RedBeat's retries cut from 30 s to
1 s by Celery's own command-line settings (``-- name=value``), so each takes a second or two.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from config.redis_server import free_port
from tests.support import ROOT, Service, beat_command, eventually, service_env

pytestmark = pytest.mark.integration

PASSWORD = "pw-5b0e2c7d9a41f386"

#: RedBeat's retries for 1 s, not 30: the whole options dict, as Celery's cmdline parser reads it.
SHORT_RETRIES = 'redbeat_redis_options=(json){"retry_period": 1}'

#: The start of every line the beat logs as text (config.logging_config.TEXT_FORMAT).
TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[\d+\] \[[A-Z]+\] \S+: ")


def run_beat(redis_url: str, *args: str, **env: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*beat_command(), *args],
        env=service_env(redis_url, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def giving_up(port: int) -> re.Pattern[str]:
    return re.compile(
        rf"beat: no Redis answers at redis://127\.0\.0\.1:{port}/0 after \d+ s "
        r"\(.*Connection refused.*\); giving up"
    )


def test_a_beat_with_no_redis_says_so_in_one_line_and_exits_1() -> None:
    port = free_port()
    beat = run_beat(f"redis://127.0.0.1:{port}/0", "--", SHORT_RETRIES)

    assert beat.returncode == 1, beat.stderr
    lines = beat.stderr.splitlines()
    assert all(TEXT_LINE.match(line) for line in lines), beat.stderr  # no fragment, no traceback
    assert "Traceback" not in beat.stdout + beat.stderr
    problems = [line for line in lines if "[ERROR]" in line or "[CRITICAL]" in line]
    assert len(problems) == 1 and giving_up(port).search(problems[0]), problems
    assert "beat: Retrying Redis connection in" in beat.stderr  # RedBeat's retries, then that


def test_as_json_every_line_is_json_and_the_password_never_shows() -> None:
    port = free_port()
    url = f"redis://:{PASSWORD}@127.0.0.1:{port}/0"
    beat = run_beat(url, "--", SHORT_RETRIES, LOG_FORMAT="json")

    assert beat.returncode == 1, beat.stderr
    records = [json.loads(line) for line in beat.stderr.splitlines()]
    problems = [r for r in records if r["level"] in ("ERROR", "CRITICAL")]
    assert len(problems) == 1 and giving_up(port).search(problems[0]["message"]), problems
    assert "exc_info" not in problems[0]
    assert PASSWORD not in beat.stdout + beat.stderr


def test_a_beat_waiting_for_redis_stops_on_sigterm(tmp_path: Path) -> None:
    """Celery's SIGTERM handler saves the schedule: it built a second scheduler, which waited
    out RedBeat's 30 s of retries again before the beat could stop. RedBeat's own retries here."""
    beat = Service(
        beat_command(), service_env(f"redis://127.0.0.1:{free_port()}/0"), tmp_path / "beat.log"
    ).start()
    assert beat.process is not None
    eventually(lambda: "beat: Retrying Redis connection in" in beat.log(), what="a retry")
    beat.process.send_signal(signal.SIGTERM)
    try:
        status = beat.process.wait(timeout=60)  # a safety net: it used to take 31 s more
    finally:
        beat.kill()

    assert status == 0, beat.log()
    assert beat.log().count("beat: Retrying Redis connection in 1.0 seconds") == 1, beat.log()
    assert "[ERROR]" not in beat.log() and "Traceback" not in beat.log()


def test_a_beat_that_fails_to_start_otherwise_logs_it_once_not_char_by_char(
    tmp_path: Path,
) -> None:
    """Celery's own scheduler with a schedule file it cannot write: an unexpected failure,
    logged once with its traceback (one JSON record), not printed again through the proxy."""
    beat = run_beat(
        f"redis://127.0.0.1:{free_port()}/0",
        "-S",
        "celery.beat.PersistentScheduler",
        "-s",
        str(tmp_path / "missing" / "schedule"),
        LOG_FORMAT="json",
    )

    assert beat.returncode == 1, beat.stderr
    records = [json.loads(line) for line in beat.stderr.splitlines()]
    assert not [r for r in records if r["logger"] == "celery.redirected"]
    (critical,) = [r for r in records if r["level"] == "CRITICAL"]
    assert critical["message"].startswith("beat raised exception") and critical["exc_info"]
