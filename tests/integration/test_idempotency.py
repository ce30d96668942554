"""Idempotency-Key: a repeated POST gets the first response back and queues nothing new."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from api.idempotency import KEY_PREFIX, PENDING_TTL
from tests.conftest import TEST_ADD_DELAY
from tests.support import AppBuilder, Service, eventually, sumflow_app
from workflows.registry import ISSUED_PREFIX

pytestmark = pytest.mark.integration

ALICE, BOB = "alice-5f2c8e1d0b9a", "bob-3e7d1c9b5a0f"
ADD = {"a": 2, "b": 3}


@pytest.fixture(scope="module")
def keyed(redis_url: str) -> Iterator[Flask]:
    with sumflow_app(
        {
            "redis_url": redis_url,
            "add_delay_seconds": TEST_ADD_DELAY,
            "api_keys": (ALICE, BOB),
            "rate_limit": "",
        }
    ) as app:
        yield app


@pytest.fixture
def redis_client(keyed: Flask) -> redis.Redis:
    return keyed.extensions["sumflow"].redis


def issued(client: redis.Redis) -> int:
    """How many task ids the service has handed out so far."""
    return sum(1 for _ in client.scan_iter(f"{ISSUED_PREFIX}*", count=1000))


def post(keyed: Flask, body: Any, key: str | None, who: str = ALICE) -> Any:
    headers = {"Authorization": f"Bearer {who}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return keyed.test_client().post("/add", json=body, headers=headers)


def test_the_same_key_replays_the_first_response(
    keyed: Flask, redis_client: redis.Redis, worker: Service
) -> None:
    key = str(uuid.uuid4())
    before = issued(redis_client)
    first = post(keyed, {"a": 2, "b": 3}, key)
    again = post(keyed, {"a": 2, "b": 3}, key)

    assert first.status_code == again.status_code == 202
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert issued(redis_client) == before + 1  # one task, not two

    result = keyed.test_client().get(
        f"/result/{first.json['task_id']}?wait=10", headers={"Authorization": f"Bearer {ALICE}"}
    )
    assert result.json == {"status": "SUCCESS", "result": 5}


def test_without_a_key_every_post_is_new_work(keyed: Flask) -> None:
    first, second = post(keyed, {"a": 1, "b": 1}, None), post(keyed, {"a": 1, "b": 1}, None)
    assert first.json["task_id"] != second.json["task_id"]


def test_a_key_reused_for_a_different_body_is_refused(keyed: Flask) -> None:
    key = str(uuid.uuid4())
    assert post(keyed, {"a": 1, "b": 2}, key).status_code == 202
    response = post(keyed, {"a": 1, "b": 3}, key)
    assert response.status_code == 422
    assert response.json["message"].startswith("Idempotency-Key: ")


def test_keys_are_scoped_per_client(keyed: Flask) -> None:
    key = str(uuid.uuid4())
    alices = post(keyed, {"a": 1, "b": 2}, key, who=ALICE)
    bobs = post(keyed, {"a": 1, "b": 2}, key, who=BOB)
    assert alices.status_code == bobs.status_code == 202
    assert alices.json["task_id"] != bobs.json["task_id"]


def test_keys_are_scoped_per_endpoint(keyed: Flask) -> None:
    headers = {"Authorization": f"Bearer {ALICE}", "Idempotency-Key": str(uuid.uuid4())}
    body = {"pairs": [[1, 2]]}
    group = keyed.test_client().post("/groups", json=body, headers=headers)
    chord = keyed.test_client().post("/chords", json=body, headers=headers)
    assert group.status_code == chord.status_code == 202
    assert "Idempotent-Replayed" not in chord.headers
    assert chord.json["group_id"] != group.json["group_id"] and "task_id" in chord.json


def test_a_response_is_remembered_as_long_as_results(
    keyed: Flask, redis_client: redis.Redis
) -> None:
    before = set(redis_client.scan_iter(f"{KEY_PREFIX}*", count=1000))
    assert post(keyed, {"a": 1, "b": 2}, str(uuid.uuid4())).status_code == 202
    [remembered] = set(redis_client.scan_iter(f"{KEY_PREFIX}*", count=1000)) - before
    kept = keyed.extensions["sumflow"].settings.result_expires_seconds
    assert kept - 5 <= redis_client.ttl(remembered) <= kept


def test_a_refused_request_frees_its_key(keyed: Flask) -> None:
    key = str(uuid.uuid4())
    assert post(keyed, {"a": "one", "b": 2}, key).status_code == 422
    corrected = post(keyed, {"a": 1, "b": 2}, key)
    assert corrected.status_code == 202
    assert post(keyed, {"a": 1, "b": 2}, key).json == corrected.json


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "é", "x1,x2"])
def test_malformed_keys_get_422_naming_the_header(keyed: Flask, key: str) -> None:
    response = keyed.test_client().post(
        "/add",
        json={"a": 1, "b": 2},
        headers={"Authorization": f"Bearer {ALICE}", "Idempotency-Key": key},
    )
    assert response.status_code == 422
    assert "Idempotency-Key: " in response.json["message"]


def test_concurrent_duplicates_submit_once(keyed: Flask, redis_client: redis.Redis) -> None:
    key = str(uuid.uuid4())
    before = issued(redis_client)
    # Hold every Redis write for a moment, so that all the duplicates reach the claim
    # (SET NX) together: with a read-then-write claim they would all submit.
    redis_client.execute_command("CLIENT", "PAUSE", 400, "WRITE")
    responses: list[Any] = []
    start = threading.Barrier(12)

    def duplicate() -> None:
        start.wait()
        responses.append(post(keyed, {"a": 7, "b": 8}, key))

    threads = [threading.Thread(target=duplicate) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    codes = sorted(r.status_code for r in responses)
    assert len(codes) == 12 and set(codes) <= {202, 409}, codes
    assert len({r.json["task_id"] for r in responses if r.status_code == 202}) == 1
    assert all(
        r.json["message"].startswith("Idempotency-Key: ") for r in responses if r.status_code == 409
    )
    assert all(r.headers["Retry-After"] == "1" for r in responses if r.status_code == 409)
    assert issued(redis_client) == before + 1


def test_a_claim_expires_by_itself_if_its_request_never_answers(
    quiet_redis_url: str, build_app: AppBuilder
) -> None:
    """A request holds its key while it runs. A web process killed mid-request neither
    answers nor frees the key, so the claim must expire by itself (PENDING_TTL): kept for
    ever, every retry with that key would get 409 for good.

    On a Redis with no worker, an add sent with ``Prefer: wait`` keeps its request running
    until the test revokes the task."""
    app = build_app({"redis_url": quiet_redis_url, "rate_limit": ""})
    store = app.extensions["sumflow"].redis
    key = str(uuid.uuid4())
    headers = {"Idempotency-Key": key, "Prefer": "wait=25"}
    answers: list[Any] = []
    running = threading.Thread(
        target=lambda: answers.append(app.test_client().post("/add", json=ADD, headers=headers))
    )
    running.start()
    eventually(lambda: store.llen("default") == 1, what="the add to be queued")

    [claim] = store.scan_iter(f"{KEY_PREFIX}*")
    assert json.loads(store.get(claim))["state"] == "pending"
    assert 0 < store.ttl(claim) <= PENDING_TTL
    duplicate = app.test_client().post("/add", json=ADD, headers=headers)
    assert duplicate.status_code == 409
    assert duplicate.headers["Retry-After"] == "1"

    # Revoking the task ends the wait; the answer then replaces the claim, kept as results are.
    [issued_id] = store.scan_iter(f"{ISSUED_PREFIX}*")
    task_id = issued_id.decode().removeprefix(ISSUED_PREFIX)
    assert app.test_client().delete(f"/tasks/{task_id}").status_code == 202
    running.join(timeout=30)
    assert answers[0].status_code == 200
    assert answers[0].json == {
        "task_id": task_id,
        "status": "REVOKED",
        "result": "TaskRevokedError: revoked",
    }
    assert json.loads(store.get(claim))["state"] == "done"
    assert store.ttl(claim) > PENDING_TTL


def test_the_header_is_documented(keyed: Flask) -> None:
    spec = keyed.test_client().get("/openapi.json").json
    operation = spec["paths"]["/add"]["post"]
    headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
    assert not headers["Idempotency-Key"]["required"]
    assert "409" in operation["responses"]
