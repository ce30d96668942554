"""A schedule's ``expires_after``: validated like the other fields, stored as Celery's
``expires`` in seconds, and read back; no Redis needed (none answers at UNREACHABLE)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import close_app, create_app
from api.schedules import STORE_KEY, ScheduleCreateSchema, ScheduleUpdateSchema
from schedules import Every, ScheduleNotFound, ScheduleSpec, ScheduleStore
from schedules.store import changed
from workflows.backend import expired_reason
from workflows.submit import TaskOptions

UNREACHABLE = "redis://127.0.0.1:1/0"  # a valid body reaches the store, which answers 503
VALID = {"name": "fresh", "a": 1, "b": 2, "every": 60}


@pytest.fixture(scope="module")
def app() -> Iterator[Flask]:
    app = create_app({"redis_url": UNREACHABLE, "rate_limit": ""})
    yield app
    close_app(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def store(app: Flask) -> ScheduleStore:
    return app.extensions[STORE_KEY]


BAD_VALUES = [
    (0, "greater than or equal to 1 and less than or equal to 31622400"),
    (-5, "greater than or equal to 1"),
    (366 * 86_400 + 1, "less than or equal to 31622400"),
    (1.5, "Must be a JSON integer"),
    (60.0, "Must be a JSON integer"),
    ("60", "Must be a JSON integer"),
    (True, "Must be a JSON integer"),
]


@pytest.mark.parametrize(("value", "fragment"), BAD_VALUES)
def test_bad_values_are_422_naming_the_field(
    client: FlaskClient, value: Any, fragment: str
) -> None:
    created = client.post("/schedules", json={**VALID, "expires_after": value})
    changed_ = client.patch("/schedules/fresh", json={"expires_after": value})
    for response in (created, changed_):
        assert response.status_code == 422, response.json
        assert response.json["errors"]["json"].keys() == {"expires_after"}
        assert fragment in response.json["message"]
        assert response.json["message"].startswith("Invalid request: expires_after: ")


@pytest.mark.parametrize("value", [1, 60, 366 * 86_400, None])
def test_whole_seconds_in_range_or_null_pass(app: Flask, value: int | None) -> None:
    with app.test_request_context():
        created = ScheduleCreateSchema().load({**VALID, "expires_after": value})
        patch = ScheduleUpdateSchema().load({"expires_after": value})
    assert created["expires_after"] == value
    assert patch == {"expires_after": value}  # null is a change too: back to never


def test_it_is_optional_and_absent_means_never(app: Flask) -> None:
    with app.test_request_context():
        assert "expires_after" not in ScheduleCreateSchema().load(VALID)
        assert "expires_after" not in ScheduleUpdateSchema().load({"a": 5})


def test_the_entry_carries_it_as_celerys_expires_in_seconds(store: ScheduleStore) -> None:
    queued = TaskOptions(queue="default")  # as the entry writes it
    expiring = ScheduleSpec("s", 1, 2, Every(60), options=queued, expires_after=30)
    entry = store.entry(expiring)
    # Seconds, not a datetime: Celery adds them to the time of each send.
    assert entry.options["expires"] == 30 and type(entry.options["expires"]) is int
    assert store.spec_of(entry) == expiring

    plain = ScheduleSpec("s", 1, 2, Every(60))
    assert "expires" not in store.entry(plain).options  # the message as before: no expiry
    assert store.spec_of(store.entry(plain)).expires_after is None


@pytest.mark.parametrize("value", [2.5, 0, "30", datetime(2026, 1, 1, tzinfo=UTC)])
def test_an_expires_sumflow_never_writes_makes_the_entry_not_ours(
    store: ScheduleStore, value: Any
) -> None:
    entry = store.entry(ScheduleSpec("s", 1, 2, Every(60)))
    entry.options["expires"] = value
    with pytest.raises(ScheduleNotFound):
        store.spec_of(entry)


def test_changes_set_and_remove_it() -> None:
    spec = ScheduleSpec("s", 1, 2, Every(60))
    assert changed(spec, {"expires_after": 10}).expires_after == 10
    assert changed(changed(spec, {"expires_after": 10}), {"expires_after": None}) == spec


def test_an_expired_task_says_it_never_started_and_when_it_expired() -> None:
    at = "2026-11-24T09:55:22.471342+00:00"
    assert expired_reason(at) == f"expired: not started by its expiry time, {at}"
    assert expired_reason(datetime.fromisoformat(at)).endswith(at)
    assert expired_reason(None) == "expired: not started by its expiry time"
