"""A Redis that is up but refuses: the error replies a real deployment meets.

A restart with a large dataset answers ``-LOADING`` until it is loaded. These tests provoke
each reply on a redis-server of their own (DEBUG is enabled on it, for DEBUG RELOAD) and check
that the API answers it as the outage it is: 503 JSON, at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from api import create_app
from config.redis_server import RedisServer
from tests.schedule_support import Schedules
from tests.support import eventually

pytestmark = pytest.mark.integration

#: The contract: a Redis that cannot serve is reported within 3 seconds.
PROMPT = 3.0
UNAVAILABLE = "Redis is unavailable, try again shortly."


class DebugRedis(RedisServer):
    """A redis-server that takes DEBUG commands from 127.0.0.1 (Redis 7 refuses them by
    default), with AOF in ``data_dir`` so that nothing it saves lands in the working tree."""

    def command(self) -> list[str]:
        return [*super().command(), "--enable-debug-command", "local"]


@pytest.fixture
def debug_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = DebugRedis(data_dir=tmp_path / "redis").start()
    yield server
    server.stop()


def timed(client: FlaskClient, method: str, path: str, body: object = None) -> tuple[int, dict]:
    started = time.monotonic()
    answer = client.open(path, method=method, json=body)
    elapsed = time.monotonic() - started
    assert elapsed < PROMPT, (method, path, elapsed)
    return answer.status_code, answer.json


@contextmanager
def loading(server: RedisServer) -> Iterator[None]:
    """Redis reloading its dataset (as after a restart with a large RDB or AOF): ``-LOADING``
    to nearly every command for about 3 s. 20,000 filler keys in db 1, each loaded
    `key-load-delay` late, and DEBUG RELOAD, which saves the dataset and loads it again."""
    admin = redis.Redis.from_url(server.url)
    filler = redis.Redis.from_url(server.url.rpartition("/")[0] + "/1")  # the URL's db wins
    filler.execute_command("DEBUG", "POPULATE", 20000, "filler", 10)
    admin.config_set("loading-process-events-interval-bytes", 1024)  # answer -LOADING meanwhile
    admin.config_set("key-load-delay", 50)
    reload = threading.Thread(target=filler.execute_command, args=("DEBUG", "RELOAD"))
    reload.start()
    try:
        eventually(lambda: admin.info("persistence")["loading"] == 1, what="Redis to be loading")
        yield
        assert admin.info("persistence")["loading"] == 1, "loaded too soon: the test proves nothing"
    finally:
        reload.join()
        admin.config_set("key-load-delay", 0)
        filler.flushdb()


def test_schedule_writes_while_redis_loads_its_data_answer_503(debug_redis: RedisServer) -> None:
    """WATCH is allowed while Redis loads, the read after it is not. redis-py turns a
    connection error met while watching into a WatchError, which the store took for another
    writer's change: a create answered 409 "exists", an update or a delete 409 "kept changing"
    (after five attempts), although nothing had changed."""
    client = create_app({"redis_url": debug_redis.url}).test_client()
    schedules = Schedules(client)
    schedules.create("kept", a=2, b=3, every=60)

    with loading(debug_redis):
        for method, path, body in [
            ("POST", "/schedules", {"name": "fresh", "a": 1, "b": 1, "every": 60}),
            ("PATCH", "/schedules/kept", {"a": 5}),
            ("DELETE", "/schedules/kept", None),
        ]:
            status, answer = timed(client, method, path, body)
            assert (status, answer["message"]) == (503, UNAVAILABLE), (method, path, answer)

    # Loaded: none of the refused writes happened.
    assert client.get("/schedules/fresh").status_code == 404
    assert schedules.get("kept")["a"] == 2
