"""Redis stopped: quick 503s, never a hang; Redis back: the API and workers recover alone."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from flask.testing import FlaskClient

from api import create_app
from config.redis_server import RedisServer
from tests.conftest import TEST_ADD_DELAY, Sums
from tests.support import Service, eventually

pytestmark = pytest.mark.integration

#: The contract: a Redis outage is reported within 3 seconds.
PROMPT = 3.0


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def timed(call: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def test_outage_gives_503_then_recovers(
    own_redis: RedisServer, start_worker: Callable[..., Service]
) -> None:
    app = create_app({"redis_url": own_redis.url, "add_delay_seconds": TEST_ADD_DELAY})
    client: FlaskClient = app.test_client()
    sums = Sums(client)
    start_worker(("default",), url=own_redis.url)

    # Before: everything works.
    assert sums.finished(sums.submit(1, 2), wait=20)["result"] == 3
    assert client.get("/health").status_code == 200

    # Redis goes away: health and submissions say so promptly, as JSON.
    own_redis.stop()
    health, elapsed = timed(lambda: client.get("/health"))
    assert health.status_code == 503 and elapsed < PROMPT
    assert "Redis does not answer" in health.json["message"]
    add, elapsed = timed(lambda: client.post("/add", json={"a": 1, "b": 2}))
    assert add.status_code == 503 and elapsed < PROMPT
    assert add.json["message"].startswith("Redis is unavailable")
    assert add.headers["Retry-After"]
    result, elapsed = timed(lambda: client.get("/result/some-id"))
    assert result.status_code == 503 and elapsed < PROMPT

    # Redis comes back on the same port: no restarts needed anywhere.
    own_redis.start()
    eventually(lambda: client.get("/health").status_code == 200, what="health to recover")
    task_id = eventually(
        lambda: (
            (r := client.post("/add", json={"a": 2, "b": 3})).status_code == 202
            and r.json["task_id"]
        ),
        what="submissions to be accepted again",
    )
    assert sums.finished(task_id, wait=30) == {"status": "SUCCESS", "result": 5}
