"""The rate limiter costs one Redis round trip per POST, and its windows agree across processes."""

from __future__ import annotations

import math
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
import redis
from flask import Flask
from limits import parse_many

from api.rate_limit_counter import FixedWindowCounter
from tests.support import AppBuilder

pytestmark = pytest.mark.integration

ADD = {"a": 1, "b": 2}


#: The `limited_app` fixture: an app on a Redis whose one API key has the given limit.
LimitedApp = Callable[..., Flask]


@pytest.fixture
def limited_app(build_app: AppBuilder) -> LimitedApp:
    """Limits per hour and day, not minute: windows are calendar-aligned, and a test whose POSTs
    straddled the turn of a minute would find its count restarted."""

    def build(redis_url: str, key: str, limit: str = "5/day") -> Flask:
        return build_app({"redis_url": redis_url, "rate_limit": limit, "api_keys": (key,)})

    return build


def calls(redis_url: str) -> Counter[str]:
    stats = redis.Redis.from_url(redis_url).info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): v["calls"] for name, v in stats.items()})


def test_each_add_is_counted_and_queued_by_one_script_call(
    quiet_redis_url: str, limited_app: LimitedApp
) -> None:
    redis_url = quiet_redis_url
    key = f"key-{uuid.uuid4().hex}"
    client = limited_app(redis_url, key, "5/hour;100/day").test_client()
    headers = {"Authorization": f"Bearer {key}"}
    client.post("/add", json=ADD, headers=headers)
    before = calls(redis_url)
    answers = [client.post("/add", json=ADD, headers=headers) for _ in range(3)]
    used = calls(redis_url) - before

    assert [r.status_code for r in answers] == [202, 202, 202]
    # The hour limit is the tighter one, so the headers describe it.
    assert [r.headers["X-RateLimit-Limit"] for r in answers] == ["5", "5", "5"]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["3", "2", "1"]
    assert len({r.headers["X-RateLimit-Reset"] for r in answers}) == 1
    # The count rides with the publish: the script counts both limits and pushes the message.
    assert used["eval"] == 3 and used["evalsha"] == 0
    assert used["incr"] == 6
    assert used["lpush"] == 3
    assert used["set"] == 3  # each issued-id marker, run by the same script
    assert used["get"] == used["ttl"] == used["pttl"] == 0


def test_other_posts_cost_one_script_call_before_the_view(
    quiet_redis_url: str, limited_app: LimitedApp
) -> None:
    key = f"key-{uuid.uuid4().hex}"
    client = limited_app(quiet_redis_url, key, "5/hour;100/day").test_client()
    headers = {"Authorization": f"Bearer {key}"}
    client.post("/chains", json={"numbers": [1, 2]}, headers=headers)  # loads the script
    before = calls(quiet_redis_url)
    answer = client.post("/chains", json={"numbers": [1, 2, 3]}, headers=headers)
    used = calls(quiet_redis_url) - before

    assert answer.status_code == 202
    assert answer.headers["X-RateLimit-Remaining"] == "3"
    assert used["evalsha"] == 1 and used["eval"] == 0
    assert used["incr"] == 2


def test_two_processes_count_in_the_same_window(redis_url: str, limited_app: LimitedApp) -> None:
    key = f"key-{uuid.uuid4().hex}"
    headers = {"Authorization": f"Bearer {key}"}
    first = limited_app(redis_url, key).test_client()  # each app has its own counter,
    second = limited_app(redis_url, key).test_client()  # like two web workers
    answers = [
        first.post("/add", json=ADD, headers=headers),
        second.post("/add", json=ADD, headers=headers),
        second.post("/add", json=ADD, headers=headers),
    ]
    remaining = [int(r.headers["X-RateLimit-Remaining"]) for r in answers]
    resets = [int(r.headers["X-RateLimit-Reset"]) for r in answers]
    assert remaining == [4, 3, 2]
    assert len(set(resets)) == 1
    assert resets[0] % 86400 == 0  # windows are calendar days (UTC), the same in every process


def test_a_count_is_kept_a_second_past_its_window_and_then_dropped(quiet_redis_url: str) -> None:
    # A client seen once leaves nothing behind for long; a process whose clock runs a little
    # slow still finds the count until then. Amounts above the window lengths, so that an
    # amount taken for a lifetime would show.
    client = redis.Redis.from_url(quiet_redis_url)
    counter = FixedWindowCounter(client, parse_many("100000/minute;100000/hour"), "test:ttl")
    now = time.time()
    for count in counter.hit(f"once-{uuid.uuid4().hex}", now):
        assert count.count == 1
        # Set in whole seconds, and read back less the time since: TTL rounds that to the
        # nearest second, so a read half a second late (a busy machine) showed one less.
        kept_ms = (math.ceil(count.window.ends_at - now) + 1) * 1000
        left_ms = client.pttl(count.window.key)
        since_ms = (time.time() - now) * 1000
        assert kept_ms - since_ms - 1 <= left_ms <= kept_ms
