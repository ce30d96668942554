"""Retry policies: RETRY while retrying, SUCCESS when the policy allows, FAILURE when not."""

from __future__ import annotations

import json
import re
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.services import Services
from tests.conftest import Sums
from tests.support import Service, eventually
from workflows.results import meta_key

pytestmark = pytest.mark.integration

QUICK = {"max_retries": 3, "backoff": 0.3, "backoff_max": 5, "jitter": False}


def test_named_policies_are_listed(client: FlaskClient) -> None:
    body = client.get("/retry-policies").json
    names = {policy["name"]: policy for policy in body["policies"]}
    assert {"none", "default"} <= set(names)
    assert names["none"]["max_retries"] == 0
    assert set(names["default"]) == {"name", "max_retries", "backoff", "backoff_max", "jitter"}
    assert body["default"] == "default"
    assert body["max_delay_seconds"] == 300


def test_retry_is_visible_then_succeeds(sums: Sums, worker: Service) -> None:
    task_id = sums.submit(1, 2, fail_times=2, retry_policy=QUICK)
    retrying = eventually(
        lambda: (body := sums.result(task_id))["status"] == "RETRY" and body, what="RETRY"
    )
    assert "simulated transient failure" in retrying["result"]
    assert sums.finished(task_id) == {"status": "SUCCESS", "result": 3}


def test_failure_says_how_many_attempts_and_the_last_error(sums: Sums, worker: Service) -> None:
    policy = {**QUICK, "max_retries": 1}
    body = sums.finished(sums.submit(1, 2, fail_times=3, retry_policy=policy))
    assert body == {
        "status": "FAILURE",
        "result": "RetriesExhausted: gave up after 2 attempts: simulated transient failure 2 of 3",
    }


def test_policy_none_fails_on_the_first_error(sums: Sums, worker: Service) -> None:
    body = sums.finished(sums.submit(1, 2, fail_times=1, retry_policy="none"))
    assert body["status"] == "FAILURE"
    assert body["result"].startswith("RetriesExhausted: gave up after 1 attempt:")


def test_backoff_doubles_between_attempts(app: Flask, sums: Sums, worker: Service) -> None:
    # Every attempt publishes STARTED on the task's result channel: the gaps between those
    # messages are the work (0.2 s) plus the retry delay, which must double: 0.3, 0.6, 1.2.
    svc: Services = app.extensions["sumflow"]
    pubsub = svc.redis.pubsub(ignore_subscribe_messages=True)
    task_id = None
    started_at: list[float] = []
    try:
        pubsub.psubscribe(meta_key("*"))
        task_id = sums.submit(1, 2, fail_times=3, retry_policy=QUICK)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.5)
            if not message or message["channel"].decode() != meta_key(task_id):
                continue
            status = json.loads(message["data"])["status"]
            if status == "STARTED":
                started_at.append(time.monotonic())
            if status == "SUCCESS":
                break
    finally:
        pubsub.close()
    assert sums.result(task_id) == {"status": "SUCCESS", "result": 3}
    assert len(started_at) == 4  # the first try and three retries
    # The delays the worker set, doubling: exact numbers from its log, not a comparison of
    # wall-clock gaps, which a busy machine stretches one more than another (0.5, 0.8 and
    # 1.4 s apart nominally: a 0.3 s hold-up of the worker or of this test reorders them).
    retry_line = re.compile(rf"sumflow\.add\[{task_id}\] retry: Retry in ([0-9.]+)s")

    def logged_delays() -> list[float] | None:
        delays = [float(delay) for delay in retry_line.findall(worker.log())]
        return delays if len(delays) >= 3 else None

    delays = eventually(logged_delays, what="the worker to log three retries")
    assert delays == [0.3, 0.6, 1.2]
    # And each was honoured: the next attempt started no sooner (a wait is only ever longer).
    gaps = [later - earlier for earlier, later in zip(started_at, started_at[1:], strict=False)]
    for gap, delay in zip(gaps, delays, strict=True):
        assert gap >= delay
