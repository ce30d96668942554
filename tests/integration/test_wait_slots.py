"""Long-polls cannot take every thread of a web process: past its waiting slots, a request
with ``?wait`` or ``Prefer: wait`` is answered at once, with ``Retry-After``.

On a Redis of this module's own with no worker, so the task stays PENDING until the test
revokes it, which wakes every wait.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask import Flask

from tests.support import AppBuilder, eventually

pytestmark = pytest.mark.integration

ADD = {"a": 1, "b": 2}


@pytest.fixture
def app(quiet_redis_url: str, build_app: AppBuilder) -> Flask:
    # 4 threads per process: 3 may wait, 1 is kept for requests that do not.
    return build_app({"redis_url": quiet_redis_url, "rate_limit": "", "web_threads": 4})


def hold_waits(app: Flask, task_id: str, count: int) -> tuple[list[threading.Thread], list[Any]]:
    answers: list[Any] = []

    def wait() -> None:
        answers.append(app.test_client().get(f"/result/{task_id}?wait=25"))

    threads = [threading.Thread(target=wait) for _ in range(count)]
    for thread in threads:
        thread.start()
    waits = app.extensions["sumflow"].waits
    eventually(lambda: waits.held == count, what=f"{count} waits holding their slots")
    return threads, answers


def test_waits_beyond_the_slots_are_answered_at_once(app: Flask) -> None:
    client = app.test_client()
    task_id = client.post("/add", json={**ADD, "countdown": 60}).json["task_id"]
    waits = app.extensions["sumflow"].waits
    assert waits.limit == 3
    holders, answers = hold_waits(app, task_id, 3)

    late = client.get(f"/result/{task_id}?wait=25")
    assert late.status_code == 200
    assert late.json == {"status": "PENDING", "result": None}
    assert late.headers["Retry-After"] == "1"
    assert waits.held == 3 and not answers  # answered while every slot was still waiting
    assert declined(app, "/result/<task_id>") == 1

    waiting_add = client.post("/add", json=ADD, headers={"Prefer": "wait=25"})
    assert waiting_add.status_code == 202
    assert waiting_add.headers["Retry-After"] == "1"
    assert "Preference-Applied" not in waiting_add.headers
    assert declined(app, "/add") == 1
    assert waiting_add.headers["Location"] == f"/result/{waiting_add.json['task_id']}"

    # Ending the task wakes the three waits, and their slots come back.
    assert client.delete(f"/tasks/{task_id}").status_code == 202
    for thread in holders:
        thread.join(timeout=20)
    assert [a.json["status"] for a in answers] == ["REVOKED"] * 3
    assert all("Retry-After" not in a.headers for a in answers)
    assert waits.held == 0
    again = client.post("/add", json=ADD, headers={"Prefer": "wait=0.2"})
    assert again.headers["Preference-Applied"] == "wait=0.2"


def declined(app: Flask, endpoint: str) -> float:
    """``sumflow_waits_declined_total`` for ``endpoint``, from the app's own registry."""
    registry = app.extensions["sumflow_http_metrics"].registry
    value = registry.get_sample_value("sumflow_waits_declined_total", {"endpoint": endpoint})
    assert value is not None, f"no declined-waits sample for {endpoint}"  # there from the start
    return value


def test_requests_without_a_wait_never_take_a_slot(app: Flask) -> None:
    client = app.test_client()
    task_id = client.post("/add", json={**ADD, "countdown": 60}).json["task_id"]
    holders, _ = hold_waits(app, task_id, 3)

    read = client.get(f"/result/{task_id}")
    assert read.json == {"status": "PENDING", "result": None}
    assert "Retry-After" not in read.headers
    added = client.post("/add", json=ADD)
    assert added.status_code == 202 and "Retry-After" not in added.headers
    assert declined(app, "/result/<task_id>") == declined(app, "/add") == 0

    client.delete(f"/tasks/{task_id}")
    for thread in holders:
        thread.join(timeout=20)


def test_a_finished_task_read_with_every_slot_taken_is_answered_as_usual(app: Flask) -> None:
    """A wait that could not be granted costs nothing when the task is done anyway: no
    ``Retry-After`` (there is nothing to ask again for) and no declined wait counted."""
    client = app.test_client()
    pending = client.post("/add", json={**ADD, "countdown": 60}).json["task_id"]
    done = client.post("/add", json={**ADD, "countdown": 60}).json["task_id"]
    assert client.delete(f"/tasks/{done}").status_code == 202  # REVOKED: finished
    holders, _ = hold_waits(app, pending, 3)

    read = client.get(f"/result/{done}?wait=25")
    assert read.status_code == 200
    assert read.json == {"status": "REVOKED", "result": "TaskRevokedError: revoked"}
    assert "Retry-After" not in read.headers
    assert declined(app, "/result/<task_id>") == 0

    client.delete(f"/tasks/{pending}")
    for thread in holders:
        thread.join(timeout=20)


def test_both_waiting_endpoints_report_zero_declines_from_the_first_scrape(app: Flask) -> None:
    scraped = app.test_client().get("/metrics").get_data(as_text=True)
    for endpoint in ("/add", "/result/<task_id>"):
        assert f'sumflow_waits_declined_total{{endpoint="{endpoint}"}} 0.0' in scraped
