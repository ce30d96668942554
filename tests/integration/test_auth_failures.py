"""Failed API keys are budgeted per client address (AUTH_FAILURE_LIMIT), counted in Redis: past
the budget the address gets 429, whatever key it sends, until the window ends."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import UNREACHABLE_REDIS
from tests.support import AppBuilder

pytestmark = pytest.mark.integration

#: Per day, not per minute: windows are calendar-aligned, and failures that straddled the turn
#: of a minute would find their count restarted (as in test_rate_limit.py).
LIMIT = "3/day"
KEY = "auth-failures-5d41402abc4b2a76"


def fresh_address() -> str:
    """An address nobody used yet: the counters live in the suite's Redis for the day."""
    return "10." + ".".join(str(b) for b in uuid.uuid4().bytes[:3])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def get_queues(client: FlaskClient, address: str, key: str | None) -> int:
    headers = bearer(key) if key is not None else {}
    return client.get("/queues", headers=headers, environ_base={"REMOTE_ADDR": address}).status_code


#: The `guarded_app` fixture: an app with KEY and LIMIT on a Redis.
GuardedApp = Callable[..., Flask]


@pytest.fixture
def guarded_app(build_app: AppBuilder) -> GuardedApp:
    return lambda redis_url, limit=LIMIT: build_app(
        {
            "redis_url": redis_url,
            "api_keys": (KEY,),
            "auth_failure_limit": limit,
            "rate_limit": "",
        }
    )


def test_failures_past_the_budget_get_429_whatever_the_key(
    redis_url: str, guarded_app: GuardedApp
) -> None:
    client = guarded_app(redis_url).test_client()
    address = fresh_address()
    # A wrong key and a missing one both count: each is a 401.
    assert [get_queues(client, address, k) for k in ("wrong-1", None, "wrong-2")] == [401] * 3

    refused = client.get(
        "/queues", headers=bearer("wrong-3"), environ_base={"REMOTE_ADDR": address}
    )
    assert refused.status_code == 429
    assert refused.json["code"] == 429
    assert refused.json["message"] == (
        "Too many failed API keys from this address: the limit is 3 per 1 day "
        "(AUTH_FAILURE_LIMIT); retry after the number of seconds in Retry-After."
    )
    assert 0 < int(refused.headers["Retry-After"]) <= 86400
    # Until the window ends, even the right key gets no answer about itself from there:
    # otherwise a guesser would go on guessing, with 429 meaning "wrong".
    assert get_queues(client, address, KEY) == 429
    # The docs and the health probe stay open.
    health = client.get("/health", environ_base={"REMOTE_ADDR": address})
    assert health.status_code == 200
    assert client.get("/docs", environ_base={"REMOTE_ADDR": address}).status_code == 200


def test_the_count_has_a_key_space_of_its_own(redis_url: str, guarded_app: GuardedApp) -> None:
    client = guarded_app(redis_url).test_client()
    address = fresh_address()
    assert get_queues(client, address, "wrong") == 401
    keys = redis.Redis.from_url(redis_url).keys(f"sumflow:ratelimit:unauthenticated:{address}:*")
    assert len(keys) == 1 and keys[0].decode().split(":")[-2] == "3/86400s"


def test_a_right_key_from_elsewhere_is_unaffected(redis_url: str, guarded_app: GuardedApp) -> None:
    client = guarded_app(redis_url).test_client()
    guesser, someone_else = fresh_address(), fresh_address()
    for _ in range(4):
        get_queues(client, guesser, "wrong")
    assert get_queues(client, guesser, KEY) == 429
    assert get_queues(client, someone_else, KEY) == 200
    assert get_queues(client, someone_else, "typo") == 401  # a budget of its own


def test_a_right_key_does_not_count(redis_url: str, guarded_app: GuardedApp) -> None:
    client = guarded_app(redis_url).test_client()
    address = fresh_address()
    assert [get_queues(client, address, KEY) for _ in range(5)] == [200] * 5
    assert [get_queues(client, address, "wrong") for _ in range(3)] == [401] * 3


def test_the_budget_is_shared_by_every_web_process(redis_url: str, guarded_app: GuardedApp) -> None:
    # Two apps stand for two web workers: the count lives in Redis, not in memory.
    first, second = (guarded_app(redis_url).test_client() for _ in range(2))
    address = fresh_address()
    assert get_queues(first, address, "wrong") == 401
    assert get_queues(second, address, "wrong") == 401
    assert get_queues(first, address, "wrong") == 401
    assert get_queues(second, address, "wrong") == 429
    assert get_queues(second, address, KEY) == 429


def test_off_counts_nothing(redis_url: str, guarded_app: GuardedApp) -> None:
    client = guarded_app(redis_url, "").test_client()
    address = fresh_address()
    assert [get_queues(client, address, "wrong") for _ in range(5)] == [401] * 5
    assert get_queues(client, address, KEY) == 200


def test_a_failure_that_cannot_be_counted_is_a_503(guarded_app: GuardedApp) -> None:
    """Redis down: answered 401 uncounted, a guesser would have no budget while it lasts."""
    client = guarded_app(UNREACHABLE_REDIS).test_client()
    address = fresh_address()
    response = client.get(
        "/retry-policies", headers=bearer("wrong"), environ_base={"REMOTE_ADDR": address}
    )
    assert response.status_code == 503
    assert response.json["message"] == "Redis is unavailable, try again shortly."
    assert response.headers["Retry-After"] == "2"
    # A right key needs no count: what answers without Redis still does.
    ok = client.get("/retry-policies", headers=bearer(KEY), environ_base={"REMOTE_ADDR": address})
    assert ok.status_code == 200
