"""The rate limiter's storage answers a POST's X-RateLimit headers from the POST's own hit."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
import redis
from flask import Flask

from api import create_app

pytestmark = pytest.mark.integration

ADD = {"a": 1, "b": 2}


def limited_app(redis_url: str, key: str) -> Flask:
    return create_app({"redis_url": redis_url, "rate_limit": "5/minute", "api_keys": (key,)})


def calls(redis_url: str) -> Counter[str]:
    stats = redis.Redis.from_url(redis_url).info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): v["calls"] for name, v in stats.items()})


def test_headers_come_from_the_hit_without_reading_the_window_back(redis_url: str) -> None:
    key = f"key-{uuid.uuid4().hex}"
    client = limited_app(redis_url, key).test_client()
    headers = {"Authorization": f"Bearer {key}"}
    before = calls(redis_url)
    answers = [client.post("/add", json=ADD, headers=headers) for _ in range(3)]
    used = calls(redis_url) - before

    assert [r.status_code for r in answers] == [202, 202, 202]
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["4", "3", "2"]
    resets = {r.headers["X-RateLimit-Reset"] for r in answers}
    assert len(resets) == 1  # one window, one end
    assert used["ttl"] == 0 and used["pttl"] == 0  # this process opened the window: end known


def test_a_window_opened_by_another_process_ends_when_redis_says(redis_url: str) -> None:
    key = f"key-{uuid.uuid4().hex}"
    headers = {"Authorization": f"Bearer {key}"}
    first = limited_app(redis_url, key).test_client()  # each app has its own storage,
    second = limited_app(redis_url, key).test_client()  # like two gunicorn workers
    opened = first.post("/add", json=ADD, headers=headers)

    before = calls(redis_url)
    joined = [second.post("/add", json=ADD, headers=headers) for _ in range(2)]
    used = calls(redis_url) - before

    assert [r.headers["X-RateLimit-Remaining"] for r in [opened, *joined]] == ["4", "3", "2"]
    end = int(opened.headers["X-RateLimit-Reset"])
    assert all(abs(int(r.headers["X-RateLimit-Reset"]) - end) <= 1 for r in joined)
    assert used["pttl"] == 1  # asked once for the window, then remembered
