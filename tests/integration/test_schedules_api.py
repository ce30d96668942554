"""Schedules over the API, against the real Redis but without a beat: storage, timing, errors.

What the beat does with the entries is in test_schedule_runs.py and test_schedule_beats.py.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from celery.schedules import schedule as celery_schedule
from flask.testing import FlaskClient
from redbeat.schedulers import RedBeatSchedulerEntry
from redbeat.schedules import rrule

from config.redis_server import RedisServer
from schedules.beat import RunRecorder
from schedules.runs import LAST_RUN_FIELD, RunLog, runs_key
from schedules.scheduler import ResilientScheduler
from tests.schedule_support import Schedules, when
from tests.support import AppBuilder
from workflows import SumflowCelery

pytestmark = pytest.mark.integration

SCHEDULE_SET = "sumflow:redbeat::schedule"


@pytest.fixture
def schedules(client: FlaskClient) -> Iterator[Schedules]:
    helper = Schedules(client)
    yield helper
    helper.cleanup()


@pytest.fixture
def raw_redis(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url, decode_responses=True)


def test_create_read_list_delete(client: FlaskClient, schedules: Schedules) -> None:
    # Create: 201, the entry as stored, and where to find it.
    before = datetime.now(UTC)
    response = client.post("/schedules", json={"name": "nightly", "a": 1, "b": 2, "every": 60})
    schedules.names.append("nightly")
    assert response.status_code == 201
    assert response.headers["Location"] == "/schedules/nightly"
    body = response.json
    assert body["name"] == "nightly" and (body["a"], body["b"]) == (1, 2)
    assert body["every"] == 60 and body["crontab"] is None
    assert body["enabled"] is True and body["queue"] == "default"
    assert body["last_run_at"] is None and body["total_run_count"] == 0
    # The first run is one interval from now.
    next_run = when(body["next_run_at"])
    assert before + timedelta(seconds=60) <= next_run <= datetime.now(UTC) + timedelta(seconds=60)

    # Read it back, and find it in the list.
    assert schedules.get("nightly") == body
    listed = client.get("/schedules").json["schedules"]
    assert [s["name"] for s in listed] == ["nightly"]

    # Delete: 204, with no body and so no Content-Type; then it is gone everywhere.
    deleted = client.delete("/schedules/nightly")
    assert deleted.status_code == 204
    assert deleted.data == b"" and "Content-Type" not in deleted.headers
    assert client.get("/schedules/nightly").status_code == 404
    assert client.get("/schedules/nightly/runs").status_code == 404
    assert client.get("/schedules").json["schedules"] == []


def test_a_name_in_use_is_409(client: FlaskClient, schedules: Schedules) -> None:
    schedules.create("taken", every=60)
    response = client.post("/schedules", json={"name": "taken", "a": 5, "b": 5, "every": 5})
    assert response.status_code == 409
    assert "'taken' exists" in response.json["message"]
    assert schedules.get("taken")["a"] == 2  # the first one is untouched


def test_at_max_schedules_a_new_one_is_409_until_one_is_deleted(
    quiet_redis_url: str, build_app: AppBuilder
) -> None:
    """Each schedule sends work with no request and no RATE_LIMIT: with no cap, one client
    (105 schedules every second, made in 0.45 s) had the beat send 100 adds a second."""
    client = build_app({"redis_url": quiet_redis_url, "max_schedules": 2}).test_client()
    schedules = Schedules(client)
    try:
        schedules.create("one", every=60)
        schedules.create("two", every=60)
        full = client.post("/schedules", json={"name": "three", "a": 1, "b": 1, "every": 60})
        assert (full.status_code, full.json["message"]) == (
            409,
            "2 schedules are stored (MAX_SCHEDULES); delete one.",
        )
        assert client.get("/schedules/three").status_code == 404
        # A name in use says so first; a change to a stored one is no new schedule.
        taken = client.post("/schedules", json={"name": "one", "a": 1, "b": 1, "every": 60})
        assert "'one' exists" in taken.json["message"]
        assert client.patch("/schedules/two", json={"a": 7}).status_code == 200

        assert client.delete("/schedules/one").status_code == 204
        schedules.create("three", every=60)
        assert [s["name"] for s in client.get("/schedules").json["schedules"]] == [
            "three",
            "two",
        ]
    finally:
        schedules.cleanup()


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_schedules_are_404(client: FlaskClient, method: str) -> None:
    kwargs: dict[str, Any] = {"json": {"a": 1}} if method == "patch" else {}
    response = getattr(client, method)("/schedules/no-such-schedule", **kwargs)
    assert response.status_code == 404
    assert response.json["message"] == "No schedule named 'no-such-schedule'."


#: What sumflow writes into every entry of its own (schedules.store).
OURS = {"headers": {"sumflow_schedule": "foreign"}}


@pytest.mark.parametrize(
    ("task", "args", "schedule", "more"),
    [
        ("celery.backend_cleanup", [], celery_schedule(60), {"options": OURS}),  # another task
        ("sumflow.add", [1], celery_schedule(60), {"options": OURS}),  # not a schedule's args
        ("sumflow.add", [1, 2], rrule("MINUTELY"), {"options": OURS}),  # a timing never written
        # What a plain beat configuration of sumflow.add stores: no run header.
        ("sumflow.add", [1, 2], celery_schedule(60), {}),
        # Fields set by hand, that no schedule of ours could hold: used to be a 500.
        (
            "sumflow.add",
            [1, 2],
            celery_schedule(60),
            {"options": OURS, "kwargs": {"retry_policy": "patient"}},
        ),
        (
            "sumflow.add",
            [1, 2],
            celery_schedule(60),
            {"options": OURS, "kwargs": {"fail_times": "x"}},
        ),
        # An entry of ours copied by hand under another name: its runs name the original.
        (
            "sumflow.add",
            [1, 2],
            celery_schedule(60),
            {"options": {"headers": {"sumflow_schedule": "original"}}},
        ),
    ],
    ids=[
        "other-task",
        "other-args",
        "rrule",
        "plain-beat",
        "policy-by-name",
        "bad-fail-times",
        "copied",
    ],
)
def test_foreign_entries_are_404_everywhere_and_left_alone(
    client: FlaskClient,
    celery_app: SumflowCelery,
    raw_redis: redis.Redis,
    task: str,
    args: list[Any],
    schedule: Any,
    more: dict[str, Any],
) -> None:
    """A RedBeat entry sumflow did not write (plain RedBeat, another app) is no schedule of
    ours: every endpoint answers GET's 404, the listing leaves it out, and DELETE leaves it
    where it is."""
    entry = RedBeatSchedulerEntry(
        "foreign", task, schedule, args=args, app=celery_app, **more
    ).save()
    try:
        calls = {
            "GET": lambda: client.get("/schedules/foreign"),
            "PATCH": lambda: client.patch("/schedules/foreign", json={"a": 1}),
            "DELETE": lambda: client.delete("/schedules/foreign"),
            "GET runs": lambda: client.get("/schedules/foreign/runs"),
        }
        for what, call in calls.items():
            response = call()
            assert response.status_code == 404, (what, response.get_data(as_text=True))
            assert response.json == {
                "code": 404,
                "status": "Not Found",
                "message": "No schedule named 'foreign'.",
            }, what
        assert raw_redis.hget(entry.key, "definition") is not None
        assert raw_redis.zscore(SCHEDULE_SET, entry.key) is not None
        assert client.get("/schedules").json["schedules"] == []
    finally:
        entry.delete()


@pytest.mark.parametrize("name", [":lock", ":schedule", ":statics"])
def test_a_name_no_schedule_can_have_is_404_and_reaches_no_other_key(
    client: FlaskClient, raw_redis: redis.Redis, name: str
) -> None:
    """A path name is the end of a Redis key (``sumflow:redbeat:<name>``). A name that POST
    refuses is nobody's schedule: ``:lock`` named RedBeat's lock, a string, and every endpoint
    answered 503 "Redis is unavailable" (Redis's WRONGTYPE, read as an outage) and logged a
    Redis outage, at any client's request; ``:schedule``, RedBeat's sorted set."""
    lock = SCHEDULE_SET.replace(":schedule", ":lock")
    raw_redis.set(lock, "another-beat", ex=60)
    raw_redis.zadd(SCHEDULE_SET, {"not-a-schedule": -1})
    try:
        calls = {
            "GET": lambda: client.get(f"/schedules/{name}"),
            "PATCH": lambda: client.patch(f"/schedules/{name}", json={"a": 1}),
            "DELETE": lambda: client.delete(f"/schedules/{name}"),
            "GET runs": lambda: client.get(f"/schedules/{name}/runs"),
        }
        for what, call in calls.items():
            response = call()
            assert response.status_code == 404, (what, response.get_data(as_text=True))
            assert response.json["message"] == f"No schedule named {name!r}.", what
        assert raw_redis.get(lock) == "another-beat"
        assert raw_redis.zscore(SCHEDULE_SET, "not-a-schedule") == -1
    finally:
        raw_redis.delete(lock)
        raw_redis.zrem(SCHEDULE_SET, "not-a-schedule")


def test_crontab_reports_the_next_cron_time(schedules: Schedules) -> None:
    def next_five_minutes(now: datetime) -> datetime:
        floor = now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0)
        return floor + timedelta(minutes=5)

    before = datetime.now(UTC)
    body = schedules.create("every-five", crontab="*/5  * * * *")
    after = datetime.now(UTC)
    assert body["crontab"] == "*/5 * * * *"  # stored normalised
    assert body["every"] is None
    assert when(body["next_run_at"]) in {next_five_minutes(before), next_five_minutes(after)}

    # Daily at 03:00 UTC: today's if still ahead, else tomorrow's.
    body = schedules.create("at-three", crontab="0 3 * * *")
    now = datetime.now(UTC)
    three = now.replace(hour=3, minute=0, second=0, microsecond=0)
    expected = three if three > now else three + timedelta(days=1)
    assert when(body["next_run_at"]) == expected


def test_disabled_entries_have_no_next_run(schedules: Schedules) -> None:
    body = schedules.create("paused", every=5, enabled=False)
    assert body["enabled"] is False and body["next_run_at"] is None


def test_options_are_stored_resolved(schedules: Schedules) -> None:
    body = schedules.create(
        "careful", every=30, queue="priority", retry_policy="patient", fail_times=1
    )
    assert body["queue"] == "priority"
    assert body["retry_policy"] == {
        "max_retries": 5,
        "backoff": 10,
        "backoff_max": 240,
        "jitter": True,
    }
    assert body["fail_times"] == 1
    inline = {"max_retries": 2, "backoff": 0.5, "backoff_max": 1, "jitter": False}
    stored = schedules.patch("careful", retry_policy=inline)["retry_policy"]
    assert stored == inline
    assert type(stored["backoff_max"]) is int  # as sent: 1, not 1.0


def test_null_on_create_is_the_default_as_if_left_out(
    client: FlaskClient, schedules: Schedules
) -> None:
    """JSON clients often send null for "not set": in a POST it means what leaving the field
    out means, for the fields a schedule shows as null or a PATCH resets with null."""
    every = schedules.create("every-nulls", every=60, crontab=None, retry_policy=None)
    assert (every["every"], every["crontab"], every["retry_policy"]) == (60, None, None)
    cron = schedules.create(
        "cron-nulls", crontab="*/5 * * * *", every=None, queue=None, expires_after=None
    )
    assert (cron["every"], cron["crontab"]) == (None, "*/5 * * * *")
    assert (cron["queue"], cron["expires_after"]) == ("default", None)

    # What a GET shows, less the fields only the service sets, creates the same schedule.
    service_set = ("name", "next_run_at", "last_run_at", "total_run_count")
    shown = {k: v for k, v in schedules.get("every-nulls").items() if k not in service_set}
    copied = schedules.create("copied", **shown)
    assert {k: copied[k] for k in shown} == shown

    # Null for both timings is neither.
    neither = client.post(
        "/schedules", json={"name": "neither", "a": 1, "b": 2, "every": None, "crontab": None}
    )
    assert neither.status_code == 422
    assert neither.json["message"].startswith("Invalid request: every: Missing data")


def test_null_timing_in_a_patch_clears_it_only_beside_the_other(
    schedules: Schedules, client: FlaskClient
) -> None:
    """In a PATCH null is not "keep" (leaving the field out is): it clears, and a schedule
    cannot be left with neither timing."""
    schedules.create("switching", every=60)
    body = schedules.patch("switching", every=None, crontab="0 3 * * *")
    assert (body["every"], body["crontab"]) == (None, "0 3 * * *")
    body = schedules.patch("switching", every=30, crontab=None)
    assert (body["every"], body["crontab"]) == (30, None)
    for cleared in ("every", "crontab"):
        response = client.patch("/schedules/switching", json={cleared: None})
        assert response.status_code == 422, response.json
        assert response.json["message"].startswith(f"Invalid request: {cleared}: ")
        assert "every or crontab" in response.json["message"]
    assert schedules.get("switching") == body


def test_null_puts_an_option_back_to_its_default(schedules: Schedules) -> None:
    """PATCHing null brings a changed queue or policy back to what a schedule created without
    them has: DEFAULT_QUEUE, written into the entry, and no policy of its own (the default)."""
    plain = schedules.create("plain", every=30)
    assert (plain["queue"], plain["retry_policy"]) == ("default", None)
    schedules.create("tuned", every=30, queue="priority", retry_policy="patient")
    schedules.patch("tuned", queue=None, retry_policy=None)
    stored = schedules.get("tuned")
    assert (stored["queue"], stored["retry_policy"]) == ("default", None)


def test_entries_name_their_queue_explicitly(
    schedules: Schedules, celery_app: SumflowCelery
) -> None:
    # redbeat#159: without a queue in the entry's options the beat does not route it.
    schedules.create("routed", every=60)
    entry = RedBeatSchedulerEntry.from_key("sumflow:redbeat:routed", app=celery_app)
    assert entry.options["queue"] == "default"
    headers = entry.options["headers"]
    assert headers["sumflow_schedule"] == "routed"
    assert re.fullmatch("[0-9a-f]{32}", headers["sumflow_schedule_id"])  # this creation's
    assert entry.task == "sumflow.add" and entry.args == [2, 3]
    # A PATCH keeps the schedule's id: its runs stay its own.
    schedules.patch("routed", every=30, a=7)
    patched = RedBeatSchedulerEntry.from_key("sumflow:redbeat:routed", app=celery_app)
    assert patched.options["headers"] == headers


def test_expires_after_is_stored_as_celerys_expires_and_null_removes_it(
    schedules: Schedules, celery_app: SumflowCelery
) -> None:
    def stored_options() -> dict[str, Any]:
        return RedBeatSchedulerEntry.from_key("sumflow:redbeat:fresh", app=celery_app).options

    created = schedules.create("fresh", every=60, expires_after=30)
    assert created["expires_after"] == 30 == schedules.get("fresh")["expires_after"]
    assert stored_options()["expires"] == 30  # seconds: the beat adds them to each send time

    # Like operands, it changes what is sent, not when: the next run stays where it was.
    changed = schedules.patch("fresh", expires_after=5)
    assert (changed["expires_after"], changed["next_run_at"]) == (5, created["next_run_at"])
    removed = schedules.patch("fresh", expires_after=None)
    assert removed["expires_after"] is None and "expires" not in stored_options()
    assert schedules.get("fresh") == {**created, "expires_after": None}


def test_changing_operands_keeps_the_next_run(
    schedules: Schedules, celery_app: SumflowCelery, raw_redis: redis.Redis
) -> None:
    # An hourly entry that last ran 45 minutes ago is due in 15 minutes...
    schedules.create("hourly", every=3600)
    entry = RedBeatSchedulerEntry.from_key("sumflow:redbeat:hourly", app=celery_app)
    ran_at = datetime.now(UTC) - timedelta(minutes=45)
    entry.reschedule(last_run_at=ran_at)
    due = ran_at + timedelta(hours=1)
    assert when(schedules.get("hourly")["next_run_at"]) == due

    # ...and still is after its operands change (redbeat PR #313: a save used to push it to
    # an hour from now). The beat's sorted set agrees.
    body = schedules.patch("hourly", a=10, b=20, queue="priority")
    assert (body["a"], body["b"], body["queue"]) == (10, 20, "priority")
    assert when(body["next_run_at"]) == due
    assert raw_redis.zscore(SCHEDULE_SET, "sumflow:redbeat:hourly") == int(due.timestamp())


def test_changes_keep_the_run_count(schedules: Schedules, celery_app: SumflowCelery) -> None:
    schedules.create("counted", every=60)
    next(ResilientScheduler.Entry.from_key("sumflow:redbeat:counted", app=celery_app))  # a run
    assert schedules.get("counted")["total_run_count"] == 1
    assert schedules.patch("counted", a=5)["total_run_count"] == 1
    assert schedules.patch("counted", every=120)["total_run_count"] == 1


def test_a_new_schedule_starts_without_the_runs_of_an_old_one(
    schedules: Schedules, raw_redis: redis.Redis
) -> None:
    # What a beat of an older sumflow may leave when it sends a run just as the name is
    # deleted: the new schedule of that name does not show it.
    raw_redis.lpush(runs_key("reborn"), json.dumps({"task_id": "old", "run_at": time.time()}))
    schedules.create("reborn", every=60)
    assert schedules.runs("reborn") == []


def test_changing_the_timing_counts_from_now(schedules: Schedules) -> None:
    schedules.create("retimed", every=3600)
    before = datetime.now(UTC)
    body = schedules.patch("retimed", every=10)
    assert body["every"] == 10
    assert when(body["next_run_at"]) - before < timedelta(seconds=11)

    # Switching to a crontab drops the interval, and the other way round.
    body = schedules.patch("retimed", crontab="0 3 * * *")
    assert body["every"] is None and body["crontab"] == "0 3 * * *"
    assert when(body["next_run_at"]).hour == 3
    body = schedules.patch("retimed", every=20)
    assert body["every"] == 20 and body["crontab"] is None


def test_disable_and_enable(schedules: Schedules, raw_redis: redis.Redis) -> None:
    schedules.create("toggled", every=600)
    body = schedules.patch("toggled", enabled=False)
    assert body["enabled"] is False and body["next_run_at"] is None
    # A disabled entry is out of the beat's way entirely: RedBeat never loads score -1.
    assert raw_redis.zscore(SCHEDULE_SET, "sumflow:redbeat:toggled") == -1

    # Enabling counts a fresh interval from now, rather than catching up at once.
    before = datetime.now(UTC)
    body = schedules.patch("toggled", enabled=True)
    assert body["enabled"] is True
    assert when(body["next_run_at"]) >= before + timedelta(seconds=600)


def test_an_empty_patch_changes_nothing(schedules: Schedules) -> None:
    created = schedules.create("steady", every=60)
    assert schedules.patch("steady") == created


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"crontab": "61 * * * *"}, "crontab", "minute 61 is not in 0-59"),
        ({"crontab": "* * *"}, "crontab", "five fields"),
        ({"crontab": "* * * * * *"}, "crontab", "five fields"),
        ({"crontab": "0 0 30 2 *"}, "crontab", "never occurs"),
        ({"crontab": "1,,2 * * * *"}, "crontab", "minute '1,,2' must be '*'"),  # was a 500
        ({"crontab": "1-2-3 * * * *"}, "crontab", "minute '1-2-3' must be"),  # was read as 1-2
        ({"crontab": 5}, "crontab", "Not a valid string"),
        ({"every": 0}, "every", "greater than or equal to 1"),
        ({"every": -5}, "every", "greater than or equal to 1"),
        ({"every": 10**9}, "every", "less than or equal to"),
        ({"every": "60"}, "every", "JSON number"),
        ({"every": 60, "crontab": "* * * * *"}, "every", "not both"),
        ({}, "every", "give every (seconds) or crontab"),
        ({"every": 60, "name": ""}, "name", "Must be 1-100 characters"),
        ({"every": 60, "name": "../etc"}, "name", "Must be 1-100 characters"),
        ({"every": 60, "name": "a b"}, "name", "Must be 1-100 characters"),
        ({"every": 60, "name": "-x"}, "name", "Must be 1-100 characters"),
        ({"every": 60, "name": "nl\n"}, "name", "Must be 1-100 characters"),
        ({"every": 60, "name": "x" * 101}, "name", "Must be 1-100 characters"),
        ({"every": 60, "name": None}, "name", "Field may not be null"),
        ({"every": 60, "a": None}, "a", "Field may not be null"),
        ({"every": 60, "enabled": None}, "enabled", "Field may not be null"),
        ({"every": 60, "fail_times": None}, "fail_times", "Field may not be null"),
        ({"every": 60, "a": "1"}, "a", "JSON number"),
        (
            {"every": 60, "b": 2**63},
            "b",
            "Must be between -9223372036854775807 and 9223372036854775807.",
        ),
        ({"every": 60, "enabled": "yes"}, "enabled", "JSON boolean"),
        ({"every": 60, "queue": "nowhere"}, "queue", "configured queues"),
        ({"every": 60, "retry_policy": "sometimes"}, "retry_policy", "named policies"),
        ({"every": 60, "countdown": 5}, "countdown", "Unknown field"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(
    client: FlaskClient, body: dict[str, Any], field: str, fragment: str
) -> None:
    full = {"name": "bad", "a": 1, "b": 2, **body}
    response = client.post("/schedules", json=full)
    assert response.status_code == 422, response.json
    assert f"{field}:" in response.json["message"]
    assert fragment in response.json["message"]
    assert client.get("/schedules/bad").status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"every": 1, "crontab": "* * * * *"}, "every", "not both"),
        ({"crontab": "every day"}, "crontab", "five fields"),
        ({"every": 0.5}, "every", "greater than or equal to 1"),
        ({"name": "renamed"}, "name", "Unknown field"),
        ({"enabled": None}, "enabled", "Field may not be null"),
        ({"fail_times": None}, "fail_times", "Field may not be null"),
        ({"every": None, "crontab": None}, "every", "every or crontab"),
        ({"fail_times": -1}, "fail_times", "greater than or equal to 0"),
    ],
)
def test_bad_patches_are_422_and_change_nothing(
    client: FlaskClient, schedules: Schedules, body: dict[str, Any], field: str, fragment: str
) -> None:
    created = schedules.create("kept", every=60)
    response = client.patch("/schedules/kept", json=body)
    assert response.status_code == 422, response.json
    assert f"{field}:" in response.json["message"]
    assert fragment in response.json["message"]
    assert schedules.get("kept") == created


def test_a_run_recorded_after_the_delete_does_not_bring_the_entry_back(
    schedules: Schedules, celery_app: SumflowCelery, raw_redis: redis.Redis, redis_url: str
) -> None:
    """The beat records a run just before publishing it; a DELETE can land between the beat
    loading the entry and that record. The record must not recreate the deleted entry's hash
    (it would have no TTL, and nothing would ever remove it)."""
    recorder = RunRecorder(
        redis.Redis.from_url(redis_url),  # as the beat's: bytes, not str
        RunLog(keep=10, ttl=3600),
        celery_app.conf.redbeat_key_prefix,
        celery_app.backend,
    )
    key = "sumflow:redbeat:recorded"
    schedules.create("recorded", every=60)
    sent = run_headers(celery_app, key)  # what the beat's message for this entry carries
    recorder(headers={**sent, "id": "before"})
    assert raw_redis.hexists(key, LAST_RUN_FIELD)
    assert [run["task_id"] for run in schedules.runs("recorded")] == ["before"]

    schedules.delete("recorded")
    recorder(headers={**sent, "id": "after"})
    assert not raw_redis.exists(key)
    assert not raw_redis.exists(runs_key("recorded"))
    assert raw_redis.exists("sumflow:issued:after")  # the run is still sent: its id answers

    # Created again under the same name: the old schedule's run is none of the new one's.
    schedules.create("recorded", every=60)
    recorder(headers={**sent, "id": "late"})
    assert schedules.runs("recorded") == []
    assert schedules.get("recorded")["last_run_at"] is None
    recorder(headers={**run_headers(celery_app, key), "id": "new"})
    assert [run["task_id"] for run in schedules.runs("recorded")] == ["new"]


def run_headers(celery_app: SumflowCelery, key: str) -> dict[str, str]:
    """The headers the beat's message for entry ``key`` carries, from its options."""
    return ResilientScheduler.Entry.from_key(key, app=celery_app).options["headers"]


def test_the_beats_bookkeeping_after_the_delete_does_not_bring_the_entry_back(
    schedules: Schedules, celery_app: SumflowCelery, raw_redis: redis.Redis
) -> None:
    """Sending a run, the beat first saves the entry's next instance (RedBeat's meta and
    sorted-set score). After a DELETE that save must not recreate the entry either."""
    key = "sumflow:redbeat:advanced"
    schedules.create("advanced", every=60)
    entry = ResilientScheduler.Entry.from_key(key, app=celery_app)  # what the beat's tick loads
    entry = next(entry)
    assert entry.total_run_count == 1
    assert schedules.get("advanced")["total_run_count"] == 1
    assert raw_redis.zscore(SCHEDULE_SET, key) == pytest.approx(entry.score)

    schedules.delete("advanced")
    next(entry)
    assert not raw_redis.exists(key)
    assert raw_redis.zscore(SCHEDULE_SET, key) is None


def test_run_history_is_capped_and_forgets_expired_runs(raw_redis: redis.Redis) -> None:
    # The beat writes through RunLog; here it is driven directly to check its bookkeeping.
    log = RunLog(keep=3, ttl=3600)
    now = datetime.now(UTC)
    raw_redis.hset("sumflow:redbeat:capped", "definition", "{}")  # runs are kept while it exists
    with raw_redis.pipeline() as pipe:
        log.record(pipe, "capped", "sumflow:redbeat:capped", "old", now - timedelta(hours=2))
        for i in range(5):
            log.record(pipe, "capped", "sumflow:redbeat:capped", f"t{i}", now)
        pipe.execute()
    try:
        assert raw_redis.llen(runs_key("capped")) == 3
        assert 0 < raw_redis.ttl(runs_key("capped")) <= 3600
        assert [r.task_id for r in log.read(raw_redis, "capped", 10, now)] == ["t4", "t3", "t2"]
        assert [r.task_id for r in log.read(raw_redis, "capped", 2, now)] == ["t4", "t3"]
        assert [r.task_id for r in log.read(raw_redis, "capped", 1, now)] == ["t4"]
        # Runs older than the results' lifetime are not shown (their results are gone too).
        later = now + timedelta(seconds=3601)
        assert log.read(raw_redis, "capped", 10, later) == []
        stored = json.loads(raw_redis.lindex(runs_key("capped"), 0))
        assert stored["task_id"] == "t4"
        assert raw_redis.exists("sumflow:issued:t4")  # GET /result/<id> answers for runs
    finally:
        raw_redis.delete(runs_key("capped"), "sumflow:redbeat:capped")


def test_redis_outage_gives_prompt_503s(build_app: AppBuilder) -> None:
    own = RedisServer().start()
    client = build_app({"redis_url": own.url}).test_client()
    try:
        assert (
            client.post("/schedules", json={"name": "x", "a": 1, "b": 2, "every": 5}).status_code
            == 201
        )
        own.stop()
        calls = [
            lambda: client.get("/schedules"),
            lambda: client.get("/schedules/x"),
            lambda: client.post("/schedules", json={"name": "y", "a": 1, "b": 2, "every": 5}),
            lambda: client.patch("/schedules/x", json={"a": 3}),
            lambda: client.delete("/schedules/x"),
            lambda: client.get("/schedules/x/runs"),
        ]
        for call in calls:
            started = time.monotonic()
            response = call()
            assert response.status_code == 503, response.json
            assert response.json["message"].startswith("Redis is unavailable")
            assert time.monotonic() - started < 3
    finally:
        own.stop()


def test_a_timing_change_while_the_beat_sends_is_not_undone_by_its_bookkeeping(
    schedules: Schedules, celery_app: SumflowCelery, raw_redis: redis.Redis
) -> None:
    """The beat loads due entries at the start of a tick, then sends them one by one. A PATCH
    of the timing in between used to be overwritten by the beat's save of the old timing's
    next run: an every-2-s schedule then waited out the rest of its old minute."""
    key = "sumflow:redbeat:retimed"
    schedules.create("retimed", every=60)
    entry = ResilientScheduler.Entry.from_key(key, app=celery_app)  # what the beat's tick loads
    schedules.patch("retimed", every=2)  # counts from now
    patched = raw_redis.zscore(SCHEDULE_SET, key)
    assert patched is not None

    next(entry)  # the beat sends the run it loaded, and saves the old timing's next one

    assert raw_redis.zscore(SCHEDULE_SET, key) == patched
    view = schedules.get("retimed")
    assert view["every"] == 2
    due_in = datetime.fromisoformat(view["next_run_at"]) - datetime.now(UTC)
    assert due_in <= timedelta(seconds=2)


def test_a_change_of_operands_while_the_beat_sends_keeps_the_beats_bookkeeping(
    schedules: Schedules, celery_app: SumflowCelery, raw_redis: redis.Redis
) -> None:
    """Only a new timing stops the beat's save: else the run it just sent would stay due, and
    go out again at the next tick."""
    key = "sumflow:redbeat:reoperanded"
    schedules.create("reoperanded", every=60)
    entry = ResilientScheduler.Entry.from_key(key, app=celery_app)
    schedules.patch("reoperanded", a=40, b=2)

    advanced = next(entry)

    assert raw_redis.zscore(SCHEDULE_SET, key) == pytest.approx(advanced.score)
    view = schedules.get("reoperanded")
    assert (view["a"], view["b"], view["total_run_count"]) == (40, 2, 1)


def test_a_disable_while_the_beat_sends_keeps_the_entry_disabled(
    schedules: Schedules, celery_app: SumflowCelery, raw_redis: redis.Redis
) -> None:
    """A PATCH of ``enabled: false`` between the tick loading an entry and sending it leaves
    ``meta`` alone, so the beat's save used to go through: the run went out after the PATCH
    had answered, and the save put back a real score over the -1 that keeps a disabled entry
    out of every tick, which then loaded it once a second for as long as it stayed disabled."""
    key = "sumflow:redbeat:paused"
    schedules.create("paused", every=60)
    entry = ResilientScheduler.Entry.from_key(key, app=celery_app)  # what the beat's tick loads
    schedules.patch("paused", enabled=False)

    advanced = next(entry)  # the beat claims the run it loaded

    assert not advanced.claimed  # so it does not send it
    assert raw_redis.zscore(SCHEDULE_SET, key) == -1
    view = schedules.get("paused")
    assert (view["enabled"], view["next_run_at"], view["total_run_count"]) == (False, None, 0)

    # Enabled again, it counts from then, as any re-enable does.
    view = schedules.patch("paused", enabled=True)
    due_in = datetime.fromisoformat(view["next_run_at"]) - datetime.now(UTC)
    assert timedelta(seconds=55) < due_in <= timedelta(seconds=60)
