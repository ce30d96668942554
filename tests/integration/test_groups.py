"""POST /groups and GET /groups/<id>: pairs added in parallel, results read back in order."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from config import load_settings
from tests.conftest import Sums
from tests.support import AppBuilder, Service, eventually
from workflows.canvas import submit_group
from workflows.celery_app import create_celery
from workflows.groups import group_key
from workflows.submit import TaskOptions

pytestmark = pytest.mark.integration


def finished_group(client: FlaskClient, group_id: str, timeout: float = 30) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = client.get(f"/groups/{group_id}").json
        return body if body["status"] in ("SUCCESS", "PARTIAL", "FAILURE") else None

    return eventually(done, timeout=timeout, interval=0.2, what=f"group {group_id} to finish")


def test_a_group_of_500_pairs_gives_every_sum_in_order(
    client: FlaskClient, sums: Sums, fast_worker: Service, redis_url: str
) -> None:
    pairs = [[i, 1000 - 3 * i] for i in range(500)]
    response = client.post("/groups", json={"pairs": pairs, "queue": "priority"})
    assert response.status_code == 202
    body = response.json
    assert len(body["task_ids"]) == 500 and body["chunk_size"] is None
    assert response.headers["Location"] == f"/groups/{body['group_id']}"
    # README: membership is kept for RESULT_EXPIRES_SECONDS from the submission, not for ever.
    kept = redis.Redis.from_url(redis_url).ttl(group_key(body["group_id"]))
    assert 0 < kept <= client.application.extensions["celery"].conf.result_expires

    status = finished_group(client, body["group_id"])
    assert status["status"] == "SUCCESS"
    assert (status["total"], status["completed"], status["failed"]) == (500, 500, 0)
    assert status["results"] == [a + b for a, b in pairs]
    assert status["errors"] == []
    # Each member is an ordinary task too.
    assert sums.result(body["task_ids"][7]) == {"status": "SUCCESS", "result": 1000 - 2 * 7}


def test_a_chunked_group_of_20000_pairs_gives_every_sum_in_order(
    client: FlaskClient, sums: Sums, fast_worker: Service
) -> None:
    pairs = [[i, i * 0.5] for i in range(20_000)]
    response = client.post("/groups", json={"pairs": pairs, "chunk_size": 300, "queue": "priority"})
    assert response.status_code == 202
    body = response.json
    # task_ids are the chunks' ids: 20,000 / 300 rounded up.
    assert len(body["task_ids"]) == 67 and body["chunk_size"] == 300

    status = finished_group(client, body["group_id"])
    assert status["status"] == "SUCCESS" and status["completed"] == 20_000
    assert status["results"] == [a + b for a, b in pairs]
    # A chunk's own result is the list of its pairs' sums; the last chunk is shorter.
    last = sums.result(body["task_ids"][-1])["result"]
    assert last == [a + b for a, b in pairs[66 * 300 :]] and len(last) == 200


def test_chunks_retry_by_the_policy(client: FlaskClient, fast_worker: Service) -> None:
    policy = {"max_retries": 2, "backoff": 0, "backoff_max": 0, "jitter": False}
    response = client.post(
        "/groups",
        json={
            "pairs": [[1, 1]] * 5,
            "chunk_size": 2,
            "fail_times": 2,
            "retry_policy": policy,
            "queue": "priority",
        },
    )
    status = finished_group(client, response.json["group_id"])
    assert status["status"] == "SUCCESS" and status["results"] == [2] * 5


def test_a_group_whose_adds_all_fail_reports_failure_per_chunk(
    client: FlaskClient, fast_worker: Service
) -> None:
    response = client.post(
        "/groups",
        json={
            "pairs": [[1, 1]] * 5,
            "chunk_size": 2,
            "fail_times": 1,
            "retry_policy": "none",
            "queue": "priority",
        },
    )
    chunk_ids = response.json["task_ids"]
    status = finished_group(client, response.json["group_id"])
    assert status["status"] == "FAILURE"
    assert (status["completed"], status["failed"]) == (0, 5)
    assert status["results"] == [None] * 5
    assert [(e["task_id"], e["index"], e["count"]) for e in status["errors"]] == [
        (chunk_ids[0], 0, 2),
        (chunk_ids[1], 2, 2),
        (chunk_ids[2], 4, 1),
    ]
    assert all("RetriesExhausted" in e["message"] for e in status["errors"])


def test_unknown_group_id_is_404(client: FlaskClient) -> None:
    response = client.get("/groups/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404
    assert "No group with id" in response.json["message"]


def test_a_group_id_and_a_task_id_each_point_to_where_they_are_read(
    client: FlaskClient, fast_worker: Service
) -> None:
    # A chord answers with a task_id and a group_id: a newcomer who reads one at the other's
    # endpoint is told where it belongs, not only that it is unknown there.
    body = client.post("/chords", json={"pairs": [[1, 2]], "queue": "priority"}).json
    group_id, task_id = body["group_id"], body["task_id"]

    as_task = client.get(f"/result/{group_id}")
    assert as_task.status_code == 404
    assert as_task.json["message"].endswith(f"It is a group's id: read it at /groups/{group_id}.")
    assert client.delete(f"/tasks/{group_id}").json["message"] == as_task.json["message"]

    as_group = client.get(f"/groups/{task_id}")
    assert as_group.status_code == 404
    assert as_group.json["message"].endswith(f"It is a task's id: read it at /result/{task_id}.")


@pytest.mark.parametrize("path", ["/groups", "/chords"])
@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"pairs": []}, "pairs: Must hold at least 1 pair; got 0"),
        ({"pairs": [[1, 2, 3]]}, "pairs.0: Must be a pair [a, b] of two numbers"),
        ({"pairs": [1, 2]}, "pairs.0: Must be a pair [a, b]"),
        ({"pairs": [[1, 2], [1]]}, "pairs.1: Must be a pair [a, b]"),
        ({"pairs": [["1", 2]]}, "pairs.0.0: Must be a JSON number"),
        ({"pairs": [[1, None]]}, "pairs.0.1: Must be a JSON number"),
        ({"pairs": [[1, 2**63]]}, "pairs.0.1: Must be between"),
        ({"pairs": "[[1, 2]]"}, "pairs: Must be a list of pairs"),
        ({"pairs": [[1, 2]], "chunk_size": 0}, "chunk_size: Must be greater than or equal to 1"),
        ({"pairs": [[1, 2]], "chunk_size": 100_001}, "chunk_size: Must be at most 100000 (MAX"),
        ({"pairs": [[1, 2]], "chunk_size": "5"}, "chunk_size: Must be a JSON integer"),
        ({"pairs": [[1, 2]], "chunk_size": 2.5}, "chunk_size: Must be a JSON integer"),
        ({"pairs": [[1, 2]], "retry_policy": "sometimes"}, "retry_policy: Unknown retry"),
        ({"pairs": [[1, 2]], "extra": 1}, "extra: Unknown field"),
        ({}, "pairs: Missing data"),
        ({"pairs": [[1, 2]] * 10_001}, "use a chunk_size of at least 2"),
        ({"pairs": [[1, 2]] * 10_001, "chunk_size": None}, "10001 pairs without chunk_size"),
        ({"pairs": [[1, 2]] * 30_000, "chunk_size": 2}, "30000 pairs in chunks of 2 make 15000"),
        ({"pairs": [[1, 2]] * 100_001, "chunk_size": 100}, "Too many pairs: 100001; at most"),
    ],
)
def test_bad_bodies_get_422_naming_the_field(
    client: FlaskClient, path: str, body: dict, fragment: str
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert fragment in response.json["message"]


@pytest.mark.parametrize("path", ["/groups", "/chords"])
def test_a_null_chunk_size_is_as_if_none_were_given(client: FlaskClient, path: str) -> None:
    """The 202 says ``"chunk_size": null`` when none was asked for; sent back, it means that."""
    response = client.post(path, json={"pairs": [[1, 2], [3, 4]], "chunk_size": None})
    assert response.status_code == 202
    assert response.json["chunk_size"] is None
    assert len(response.json["task_ids"]) == 2  # one task per pair, unchunked


def test_only_ten_bad_pairs_are_reported(client: FlaskClient) -> None:
    response = client.post("/groups", json={"pairs": [["x", "y"]] * 1000})
    assert response.status_code == 422
    errors = response.json["errors"]["json"]["pairs"]
    assert sorted(int(index) for index in errors) == list(range(10))


@pytest.mark.parametrize("path", ["/groups", "/chords", "/chains"])
def test_a_body_over_the_size_limit_is_413_before_parsing(client: FlaskClient, path: str) -> None:
    # 9 MiB that is not even JSON: refused on Content-Length alone, not parsed (that would 400).
    response = client.post(path, data=b"[" * (9 * 2**20), content_type="application/json")
    assert response.status_code == 413
    assert response.json["code"] == 413
    assert "body is larger than 8388608 bytes (MAX_REQUEST_BYTES)" in response.json["message"]


def test_400000_small_pairs_are_refused_by_count(client: FlaskClient) -> None:
    # Under the byte limit, so parsed, then refused by length before any pair is checked.
    body = json.dumps({"pairs": [[1, 2]] * 400_000, "chunk_size": 1000})
    response = client.post("/groups", data=body, content_type="application/json")
    assert response.status_code == 422
    assert "Too many pairs: 400000; at most 100000 (MAX_PAIRS)" in response.json["message"]


def test_100000_of_the_largest_pairs_fit_in_the_body_limit(client: FlaskClient) -> None:
    big = -(2**63 - 1)
    body = json.dumps({"pairs": [[big, big]] * 100_000, "chunk_size": 100, "queue": "nowhere"})
    response = client.post("/groups", data=body, content_type="application/json")
    # Parsed and validated (the unknown queue is the only complaint), not refused for size.
    assert response.status_code == 422
    assert "queue: Unknown queue" in response.json["message"]


@pytest.mark.parametrize("path", ["/groups", "/chords"])
def test_a_chunk_must_finish_within_half_the_visibility_timeout(
    quiet_redis_url: str, path: str, build_app: AppBuilder
) -> None:
    """A chunk runs as one message; held longer than the visibility timeout it would be
    delivered again while it runs. 3 s per add and 600 s: at most 100 adds per chunk."""
    client = build_app(
        {"redis_url": quiet_redis_url, "add_delay_seconds": 3, "visibility_timeout_seconds": 600}
    ).test_client()
    refused = client.post(path, json={"pairs": [[1, 2]] * 101, "chunk_size": 500})
    assert refused.status_code == 422
    assert refused.json["errors"] == {
        "json": {
            "chunk_size": [
                "Must be at most 100: a chunk of 101 adds takes 303 s (ADD_DELAY_SECONDS 3), "
                "and a chunk must finish within 300 s (half the broker's visibility timeout)."
            ]
        }
    }
    # The largest chunk counts, not the chunk_size asked for.
    assert client.post(path, json={"pairs": [[1, 2]] * 5, "chunk_size": 500}).status_code == 202
    assert client.post(path, json={"pairs": [[1, 2]] * 100, "chunk_size": 100}).status_code == 202


@pytest.mark.parametrize("path", ["/groups", "/chords"])
def test_every_id_given_out_answers_before_any_worker_has_it(
    quiet_redis_url: str, path: str, build_app: AppBuilder
) -> None:
    client = build_app({"redis_url": quiet_redis_url}).test_client()  # no worker: all queued
    body = client.post(path, json={"pairs": [[1, 2], [3, 4], [5, 6]]}).json
    for task_id in [*body["task_ids"], *([body["task_id"]] if "task_id" in body else [])]:
        assert client.get(f"/result/{task_id}").json == {"status": "PENDING", "result": None}


def test_a_broker_that_replays_timed_out_commands_cannot_publish_groups(redis_url: str) -> None:
    """kombu sends a batch's messages one by one over such a connection, which would end the
    all-or-none guarantee without a word; sumflow refuses instead."""
    celery = create_celery(load_settings({}, redis_url=redis_url))
    celery.conf.broker_transport_options = {
        **celery.conf.broker_transport_options,
        "retry_on_timeout": True,
    }
    client = redis.Redis.from_url(redis_url)
    with pytest.raises(RuntimeError, match="retry_on_timeout"):
        submit_group(celery, client, [(1, 2)], TaskOptions())


@pytest.mark.parametrize("path", ["/groups", "/chords"])
def test_chunk_size_is_capped_by_the_configured_max_pairs(
    quiet_redis_url: str, path: str, build_app: AppBuilder
) -> None:
    client = build_app({"redis_url": quiet_redis_url, "max_pairs": 10}).test_client()
    refused = client.post(path, json={"pairs": [[1, 2]] * 3, "chunk_size": 11})
    assert refused.status_code == 422
    assert refused.json["errors"] == {"json": {"chunk_size": ["Must be at most 10 (MAX_PAIRS)."]}}
    assert client.post(path, json={"pairs": [[1, 2]] * 3, "chunk_size": 10}).status_code == 202
