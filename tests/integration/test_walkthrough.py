"""The study guide's walk-through, step by step, against a real Redis and a real worker."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from tests.conftest import Sums
from tests.support import AppBuilder, Service
from workflows.registry import issued_key
from workflows.results import meta_key

pytestmark = pytest.mark.integration


def test_add_then_poll_the_result(client: FlaskClient, worker: Service) -> None:
    # Submit 5 + 3: accepted at once with a task id and where to find its result.
    response = client.post("/add", json={"a": 5, "b": 3})
    assert response.status_code == 202
    task_id = response.json["task_id"]
    assert response.headers["Location"] == f"/result/{task_id}"

    # Right away the worker is still "working" (it sleeps, as in the guide).
    first = client.get(f"/result/{task_id}").json
    assert first["status"] in ("PENDING", "STARTED")
    assert first["result"] is None

    # Waiting on it gives the sum.
    done = client.get(f"/result/{task_id}?wait=10").json
    assert done == {"status": "SUCCESS", "result": 8}


def test_the_first_answer_shows_every_header_the_api_sends(
    redis_url: str, build_app: AppBuilder
) -> None:
    # The README's first `curl -i`, header for header (Granian adds `server` and `date`), with
    # the default rate limit: a header the API gains must show there too.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    shown = re.search(r"^HTTP/1\.1 202 Accepted\n(.*?)\n\n", readme, re.MULTILINE | re.DOTALL)
    assert shown
    names = {line.split(": ", 1)[0] for line in shown[1].splitlines()} - {"server", "date"}
    client = build_app({"redis_url": redis_url, "rate_limit": "100/second"}).test_client()
    response = client.post("/add", json={"a": 5, "b": 3})
    assert response.status_code == 202
    assert {name.lower() for name in response.headers.keys()} == names


def test_integers_are_exact_and_floats_are_ieee(sums: Sums, worker: Service) -> None:
    big = sums.finished(sums.submit(2**62, 2**62))
    assert big == {"status": "SUCCESS", "result": 2**63}
    assert isinstance(big["result"], int)
    assert sums.finished(sums.submit(0.1, 0.2))["result"] == 0.30000000000000004
    assert sums.finished(sums.submit(-7, 2.5))["result"] == -4.5


def test_unknown_task_id_is_404(client: FlaskClient) -> None:
    response = client.get("/result/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "was issued by this service" in response.json["message"]


def test_bad_operands_are_named_as_the_readme_shows(client: FlaskClient) -> None:
    # The README's example, answer for answer: each bad field named, in one message.
    response = client.post("/add", json={"a": "5", "b": None})
    assert response.status_code == 422
    assert response.json["message"] == (
        "Invalid request: a: Must be a JSON number, not a string, boolean or null; "
        "b: Field may not be null."
    )


def test_revoke_an_add_that_has_not_run(client: FlaskClient, sums: Sums, worker: Service) -> None:
    # Due in 60 s, revoked now: accepted with where to read it, then REVOKED for good.
    task_id = sums.submit(1, 2, countdown=60)
    response = client.delete(f"/tasks/{task_id}")
    assert response.status_code == 202
    assert response.json == {"task_id": task_id, "terminate": False}
    assert response.headers["Location"] == f"/result/{task_id}"
    assert sums.result(task_id) == {"status": "REVOKED", "result": "TaskRevokedError: revoked"}


def test_a_task_that_has_run_answers_after_its_issued_id_expired(
    sums: Sums, worker: Service, redis_url: str
) -> None:
    # docs/reliability.md: work that waited in a queue past RESULT_EXPIRES_SECONDS reads 404
    # "until it has run"; once its result is stored, it answers with it.
    task_id = sums.submit(2, 3)
    assert sums.finished(task_id) == {"status": "SUCCESS", "result": 5}
    redis.Redis.from_url(redis_url).delete(issued_key(task_id))  # as its expiry would
    assert sums.result(task_id) == {"status": "SUCCESS", "result": 5}


def test_wait_returns_as_soon_as_the_task_is_done(sums: Sums, worker: Service) -> None:
    # A promise of the contract, not a speed figure: the add takes TEST_ADD_DELAY (0.2 s),
    # and the answer comes when it is done, not when the 10 s are up.
    task_id = sums.submit(1, 1)
    started = time.monotonic()
    assert sums.result(task_id, wait=10) == {"status": "SUCCESS", "result": 2}
    assert time.monotonic() - started < 5


def test_wait_gives_up_after_the_requested_time(sums: Sums, worker: Service) -> None:
    # Held for the 0.3 s asked for (the add is due in 5 s), then answered as it stands.
    task_id = sums.submit(1, 1, countdown=5)
    started = time.monotonic()
    assert sums.result(task_id, wait=0.3) == {"status": "PENDING", "result": None}
    assert 0.3 <= time.monotonic() - started < 3


def test_wait_above_30_seconds_is_refused(client: FlaskClient, sums: Sums) -> None:
    task_id = sums.submit(1, 2)
    response = client.get(f"/result/{task_id}?wait=31")
    assert response.status_code == 422
    assert "wait" in response.json["message"]


def test_a_wait_whose_announcement_was_lost_still_ends_with_the_result(
    sums: Sums, worker: Service, redis_url: str
) -> None:
    # A result stored without its publish reaching the waiter (a connection lost between the
    # two): the wait reads again after a second without news, rather than holding on until
    # the 10 s are up. The add itself is due in 5 s; the result is stored before that.
    task_id = sums.submit(1, 1, countdown=5)
    stored = json.dumps({"status": "SUCCESS", "result": 2, "task_id": task_id})
    store = redis.Redis.from_url(redis_url)
    threading.Timer(0.3, store.set, (meta_key(task_id), stored)).start()  # SET, no PUBLISH
    started = time.monotonic()
    assert sums.result(task_id, wait=10) == {"status": "SUCCESS", "result": 2}
    assert time.monotonic() - started < 5
