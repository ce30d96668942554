"""Rate limiting: RATE_LIMIT submissions per API key (or address), counted in Redis."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
import redis
from flask import Flask

from tests.support import AppBuilder
from workflows.registry import ISSUED_PREFIX

pytestmark = pytest.mark.integration

#: Per day, not per minute: windows are calendar-aligned, and a few POSTs that straddled the
#: turn of a minute would find their count restarted.
LIMIT = "3/day"
ADD = {"a": 1, "b": 2}


def fresh_key() -> str:
    """A key nobody used yet: the counters live in the suite's Redis for the day."""
    return f"key-{uuid.uuid4().hex}"


def fresh_address() -> dict[str, str]:
    octets = uuid.uuid4().bytes[:3]
    return {"REMOTE_ADDR": "10." + ".".join(str(b) for b in octets)}


#: The `limited_app` fixture: an app limited to LIMIT on a Redis, with API keys or none.
LimitedApp = Callable[..., Flask]


@pytest.fixture
def limited_app(build_app: AppBuilder) -> LimitedApp:
    return lambda redis_url, *keys: build_app(
        {"redis_url": redis_url, "rate_limit": LIMIT, "api_keys": keys}
    )


def test_submissions_over_the_limit_get_429_with_retry_after(
    redis_url: str, limited_app: LimitedApp
) -> None:
    key = fresh_key()
    client = limited_app(redis_url, key).test_client()
    headers = {"Authorization": f"Bearer {key}"}
    accepted = [client.post("/add", json=ADD, headers=headers) for _ in range(3)]
    assert [r.status_code for r in accepted] == [202, 202, 202]
    assert accepted[0].headers["X-RateLimit-Limit"] == "3"
    assert [r.headers["X-RateLimit-Remaining"] for r in accepted] == ["2", "1", "0"]
    assert "Retry-After" not in accepted[0].headers  # only refusals say when to come back

    refused = client.post("/add", json=ADD, headers=headers)
    assert refused.status_code == 429
    assert refused.json["code"] == 429
    assert refused.json["message"].startswith("Too many submissions: the limit is 3 per 1 day")
    assert 0 < int(refused.headers["Retry-After"]) <= 86400


def test_over_several_limits_the_longest_window_says_when_to_come_back(
    redis_url: str, build_app: AppBuilder
) -> None:
    """Told to come back when the minute ends, a client over the hourly limit too would only
    be refused again: the refusal names the limit whose window lasts longest."""
    key = fresh_key()
    app = build_app({"redis_url": redis_url, "rate_limit": "1/hour;1/minute", "api_keys": (key,)})
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.post("/add", json=ADD, headers=headers).status_code == 202

    refused = client.post("/add", json=ADD, headers=headers)  # over both limits
    assert refused.status_code == 429
    assert refused.json["message"].startswith("Too many submissions: the limit is 1 per 1 hour")
    assert refused.headers["X-RateLimit-Limit"] == "1"
    assert int(refused.headers["X-RateLimit-Reset"]) % 3600 == 0  # the end of the hour
    assert 0 < int(refused.headers["Retry-After"]) <= 3600


def test_reading_is_not_limited(redis_url: str, limited_app: LimitedApp) -> None:
    key = fresh_key()
    client = limited_app(redis_url, key).test_client()
    headers = {"Authorization": f"Bearer {key}"}
    for _ in range(4):
        client.post("/add", json=ADD, headers=headers)
    assert client.post("/add", json=ADD, headers=headers).status_code == 429
    for _ in range(10):
        assert client.get("/queues", headers=headers).status_code == 200
        assert client.get("/retry-policies", headers=headers).status_code == 200


def test_each_api_key_has_its_own_budget(redis_url: str, limited_app: LimitedApp) -> None:
    greedy, patient = fresh_key(), fresh_key()
    client = limited_app(redis_url, greedy, patient).test_client()
    for _ in range(4):
        client.post("/add", json=ADD, headers={"Authorization": f"Bearer {greedy}"})
    assert (
        client.post("/add", json=ADD, headers={"Authorization": f"Bearer {greedy}"}).status_code
        == 429
    )
    assert (
        client.post("/add", json=ADD, headers={"Authorization": f"Bearer {patient}"}).status_code
        == 202
    )


def test_without_keys_each_address_has_its_own_budget(
    redis_url: str, limited_app: LimitedApp
) -> None:
    client = limited_app(redis_url).test_client()
    greedy, patient = fresh_address(), fresh_address()
    for _ in range(3):
        assert client.post("/add", json=ADD, environ_base=greedy).status_code == 202
    assert client.post("/add", json=ADD, environ_base=greedy).status_code == 429
    assert client.post("/add", json=ADD, environ_base=patient).status_code == 202


def test_the_budget_is_shared_by_every_web_process(redis_url: str, limited_app: LimitedApp) -> None:
    # Two apps stand for two web workers: the count lives in Redis, not in memory.
    key = fresh_key()
    headers = {"Authorization": f"Bearer {key}"}
    first, second = (limited_app(redis_url, key).test_client() for _ in range(2))
    assert first.post("/add", json=ADD, headers=headers).status_code == 202
    assert second.post("/add", json=ADD, headers=headers).status_code == 202
    assert first.post("/add", json=ADD, headers=headers).status_code == 202
    assert second.post("/add", json=ADD, headers=headers).status_code == 429


def test_post_endpoints_added_later_are_limited_too(
    redis_url: str, limited_app: LimitedApp
) -> None:
    app = limited_app(redis_url)
    app.add_url_rule("/later", "later", lambda: ({"ok": True}, 202), methods=["POST"])
    client = app.test_client()
    address = fresh_address()
    codes = [client.post("/later", json={}, environ_base=address).status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]


def test_an_empty_rate_limit_turns_limiting_off(redis_url: str, build_app: AppBuilder) -> None:
    client = build_app({"redis_url": redis_url, "rate_limit": ""}).test_client()
    address = fresh_address()
    codes = {client.post("/add", json=ADD, environ_base=address).status_code for _ in range(5)}
    assert codes == {202}


def queued(redis_url: str) -> int:
    return redis.Redis.from_url(redis_url).llen("default")


def issued(redis_url: str) -> int:
    """How many task ids are recorded as handed out (workflows.registry)."""
    client = redis.Redis.from_url(redis_url)
    return sum(1 for _ in client.scan_iter(f"{ISSUED_PREFIX}*", count=1000))


def test_an_add_over_budget_is_never_queued(quiet_redis_url: str, limited_app: LimitedApp) -> None:
    # No worker on this Redis: every accepted add stays in the queue, where it can be counted.
    client = limited_app(quiet_redis_url).test_client()
    address = fresh_address()
    before, ids_before = queued(quiet_redis_url), issued(quiet_redis_url)
    codes = [client.post("/add", json=ADD, environ_base=address).status_code for _ in range(5)]

    assert codes == [202, 202, 202, 429, 429]
    assert queued(quiet_redis_url) == before + 3
    # A refusal writes nothing but its count: a client hammering over budget cannot fill
    # Redis with ids that nobody was given, each kept for RESULT_EXPIRES_SECONDS.
    assert issued(quiet_redis_url) == ids_before + 3


def test_a_waiting_add_over_budget_is_refused_at_once(
    quiet_redis_url: str, limited_app: LimitedApp
) -> None:
    client = limited_app(quiet_redis_url).test_client()
    address = fresh_address()
    for _ in range(3):
        client.post("/add", json={**ADD, "countdown": 60}, environ_base=address)
    before, ids_before = queued(quiet_redis_url), issued(quiet_redis_url)
    refused = client.post("/add", json=ADD, environ_base=address, headers={"Prefer": "wait=20"})

    assert refused.status_code == 429
    assert refused.json["message"].startswith("Too many submissions")
    assert queued(quiet_redis_url) == before
    assert issued(quiet_redis_url) == ids_before


@pytest.mark.parametrize("prefer", [None, "wait=20"])
def test_adds_refused_again_and_again_open_no_new_connections(
    quiet_redis_url: str, prefer: str | None, limited_app: LimitedApp
) -> None:
    # kombu's pooled producer replaces its connection after any error in its block; a
    # refusal is the gate's answer, not the connection's fault (workflows.broker).
    stats = redis.Redis.from_url(quiet_redis_url)
    client = limited_app(quiet_redis_url).test_client()
    address = fresh_address()
    headers = {"Prefer": prefer} if prefer else {}
    for _ in range(3):
        client.post("/add", json={**ADD, "countdown": 60}, environ_base=address)
    first = client.post("/add", json=ADD, environ_base=address, headers=headers)
    assert first.status_code == 429  # every connection the app uses is open now
    before = stats.info("stats")["total_connections_received"]
    codes = [
        client.post("/add", json=ADD, environ_base=address, headers=headers).status_code
        for _ in range(5)
    ]

    assert codes == [429] * 5
    assert stats.info("stats")["total_connections_received"] == before


def test_bad_submissions_count_and_over_budget_are_429_too(
    quiet_redis_url: str, limited_app: LimitedApp
) -> None:
    client = limited_app(quiet_redis_url).test_client()
    address = fresh_address()
    bad = {"a": "one", "b": 2}
    codes = [client.post("/add", json=bad, environ_base=address).status_code for _ in range(4)]
    assert codes == [422, 422, 422, 429]
    refused = client.post("/add", json=ADD, environ_base=address)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers


def test_a_replayed_submission_over_budget_is_429(
    quiet_redis_url: str, limited_app: LimitedApp
) -> None:
    client = limited_app(quiet_redis_url).test_client()
    address = fresh_address()
    replayed = {"Idempotency-Key": f"replay-{uuid.uuid4().hex}"}
    first = client.post("/add", json=ADD, environ_base=address, headers=replayed)
    again = client.post("/add", json=ADD, environ_base=address, headers=replayed)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-RateLimit-Remaining"] == "1"  # a replay counts like any POST

    client.post("/add", json=ADD, environ_base=address)
    refused = client.post("/add", json=ADD, environ_base=address, headers=replayed)
    assert refused.status_code == 429


def test_a_refused_host_costs_its_address_nothing(redis_url: str, limited_app: LimitedApp) -> None:
    # A page reaching the API through DNS rebinding sends from the visitor's own address:
    # counted, its refused POSTs would spend that address's budget before its user's.
    client = limited_app(redis_url).test_client()
    address = fresh_address()
    refused = [
        client.post("/add", json=ADD, headers={"Host": "evil.example"}, environ_base=address)
        for _ in range(4)
    ]
    assert [r.status_code for r in refused] == [421] * 4
    accepted = client.post("/add", json=ADD, environ_base=address)
    assert accepted.status_code == 202
    assert accepted.headers["X-RateLimit-Remaining"] == "2"
