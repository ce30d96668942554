"""Redis stopped: every workflow endpoint answers 503 promptly; Redis back: they work again."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient

from config.redis_server import RedisServer
from tests.support import AppBuilder, eventually

pytestmark = pytest.mark.integration

PROMPT = 3.0  # the contract: a Redis outage is reported within 3 seconds

REQUESTS = [
    ("POST", "/chains", {"numbers": [1, 2, 3]}),
    ("POST", "/groups", {"pairs": [[1, 2]] * 50}),
    ("POST", "/groups", {"pairs": [[1, 2]] * 50, "chunk_size": 10}),
    ("POST", "/chords", {"pairs": [[1, 2]] * 50}),
    ("GET", "/groups/some-group", None),
]


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def test_workflows_answer_503_during_an_outage_and_recover(
    own_redis: RedisServer, build_app: AppBuilder
) -> None:
    client: FlaskClient = build_app({"redis_url": own_redis.url}).test_client()
    group_id = client.post("/groups", json={"pairs": [[1, 2]]}).json["group_id"]

    own_redis.stop()
    for method, path, body in REQUESTS:
        started = time.monotonic()
        response = client.open(path, method=method, json=body)
        assert response.status_code == 503, (path, response.json)
        assert time.monotonic() - started < PROMPT, path
        assert response.json["message"].startswith("Redis is unavailable")

    own_redis.start()
    eventually(
        lambda: client.post("/groups", json={"pairs": [[1, 2]]}).status_code == 202,
        what="groups to be accepted again",
    )
    # The group recorded before the outage is gone with the data (no persistence here): 404.
    assert client.get(f"/groups/{group_id}").status_code == 404


@pytest.mark.parametrize("path", ["/groups", "/chords"])
def test_members_are_queued_all_together_or_not_at_all(
    own_redis: RedisServer, path: str, build_app: AppBuilder
) -> None:
    """Redis refusing writes part way through a group (out of memory, here) leaves no member
    queued, so the client's retry does not run the first members twice."""
    app = build_app({"redis_url": own_redis.url})
    client: FlaskClient = app.test_client()
    redis = app.extensions["sumflow"].redis
    pairs = [[index, 1] for index in range(3000)]  # some 3 MB of messages

    # Room for the ids and the group record, and for about a third of the messages.
    redis.config_set("maxmemory", int(redis.info("memory")["used_memory"]) + 1_500_000)
    refused = client.post(path, json={"pairs": pairs})
    assert refused.status_code == 503, refused.json
    assert redis.llen("default") == 0

    redis.config_set("maxmemory", 0)
    accepted = client.post(path, json={"pairs": pairs})
    assert accepted.status_code == 202, accepted.json
    assert redis.llen("default") == len(pairs)
