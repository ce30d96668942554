"""The `sumflow` command line's workflow and schedule commands against a real running stack.

Same setup as test_cli.py: the web server on a free port, the suite's Redis and its shared worker.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from api.cli.errors import ExitCode
from tests.integration.test_cli import console_script, sumflow
from tests.support import Service

pytestmark = pytest.mark.integration


def write_pairs(path: Path, pairs: list[tuple[int, int]]) -> Path:
    path.write_text("a,b\n" + "".join(f"{a},{b}\n" for a, b in pairs))
    return path


def test_chain_waits_for_the_total(live_api: str, worker: Service) -> None:
    done = sumflow(live_api, "chain", "1", "2", "3", "4", "--wait")
    assert (done.returncode, done.stdout) == (0, "10\n")


def test_batch_writes_every_sum_in_input_order(
    live_api: str, worker: Service, tmp_path: Path
) -> None:
    pairs = [(n, n * 10) for n in range(1, 41)]
    source = write_pairs(tmp_path / "pairs.csv", pairs)
    output = tmp_path / "sums.csv"
    done = console_script(
        live_api, "batch", str(source), "--chunk-size", "7", "--output", str(output)
    )
    assert done.returncode == ExitCode.OK, done.stderr
    rows = list(csv.reader(io.StringIO(output.read_text())))
    assert rows[0] == ["a", "b", "sum"]
    assert rows[1:] == [[str(a), str(b), str(a + b)] for a, b in pairs]
    assert "40 added, 0 failed" in done.stderr


def test_batch_reports_failed_adds_with_exit_1(
    live_api: str, worker: Service, tmp_path: Path
) -> None:
    source = write_pairs(tmp_path / "pairs.csv", [(1, 2), (3, 4)])
    done = sumflow(live_api, "batch", str(source), "--fail-times", "1", "--retry-policy", "none")
    assert done.returncode == ExitCode.TASK_FAILED
    rows = list(csv.reader(io.StringIO(done.stdout)))
    assert rows[1:] == [["1", "2", ""], ["3", "4", ""]]
    assert done.stderr.endswith(
        "sumflow: 2 of 2 adds failed; first: RetriesExhausted: gave up after 1 attempt: "
        "simulated transient failure 1 of 1\n"
    )


def test_chord_prints_the_total_of_all_sums(live_api: str, worker: Service, tmp_path: Path) -> None:
    source = write_pairs(tmp_path / "pairs.csv", [(1, 2), (3, 4), (5, 6)])
    done = sumflow(live_api, "chord", str(source))
    assert (done.returncode, done.stdout) == (0, "21\n")


def test_schedules_from_create_to_delete(live_api: str) -> None:
    created = sumflow(
        live_api, "--json", "schedules", "create", "cli-demo", "2", "3", "--every", "60"
    )
    assert created.returncode == ExitCode.OK, created.stderr
    assert json.loads(created.stdout)["every"] == 60

    taken = sumflow(live_api, "schedules", "create", "cli-demo", "2", "3", "--every", "60")
    assert taken.returncode == ExitCode.REFUSED
    assert "exists" in taken.stderr

    listed = json.loads(sumflow(live_api, "--json", "schedules", "list").stdout)
    assert "cli-demo" in [entry["name"] for entry in listed["schedules"]]

    paused = json.loads(sumflow(live_api, "--json", "schedules", "pause", "cli-demo").stdout)
    assert paused["enabled"] is False
    resumed = json.loads(sumflow(live_api, "--json", "schedules", "resume", "cli-demo").stdout)
    assert resumed["enabled"] is True

    runs = json.loads(sumflow(live_api, "--json", "schedules", "runs", "cli-demo").stdout)
    assert runs == {"runs": []}

    assert sumflow(live_api, "schedules", "delete", "cli-demo").returncode == ExitCode.OK
    gone = sumflow(live_api, "schedules", "runs", "cli-demo")
    assert gone.returncode == ExitCode.REFUSED
    assert "No schedule named 'cli-demo'" in gone.stderr
