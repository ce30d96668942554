"""GET /health sees the whole system: real workers and a real beat come and go, and it says so."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support import Service, beat_command, eventually, service_env

pytestmark = pytest.mark.integration


def health(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/health")
    assert response.status_code == 200, response.json  # Redis answers: always 200
    assert response.json["status"] == "ok"
    return response.json


@pytest.fixture
def beat(redis_url: str, logs_dir: Path) -> Iterator[Service]:
    command = beat_command(max_interval=1)
    service = Service(command, service_env(redis_url), logs_dir / "beat-health.log")
    yield service.start()
    service.stop()


def test_health_sees_the_beat_start_and_stop(
    client: FlaskClient, worker: Service, beat: Service
) -> None:
    # Running: RedBeat's lock is held and renewed.
    body = eventually(
        lambda: (b := health(client))["checks"]["beat"] == "ok" and b, what="the beat seen"
    )
    assert body["beat"]["status"] == "ok"
    assert 0 < body["beat"]["lock_ttl_seconds"] <= 10
    assert not any("beat" in problem for problem in body["problems"])

    # Stopped: the beat releases its lock, and health says schedules do not run.
    beat.stop()
    body = eventually(
        lambda: (b := health(client))["checks"]["beat"] == "down" and b, what="the beat gone"
    )
    assert body["beat"] == {"status": "down", "lock_ttl_seconds": None}
    assert body["degraded"] is True
    assert "No beat holds RedBeat's lock: schedules do not run." in body["problems"]


def test_health_sees_a_worker_start_and_stop(
    client: FlaskClient, worker: Service, beat: Service, start_worker: Callable[..., Service]
) -> None:
    # The shared worker serves only "default": "priority" has nobody.
    body = eventually(
        lambda: (
            (b := health(client))["checks"]["workers"] == "partial"
            and b["checks"]["beat"] == "ok"
            and b
        ),
        what="'priority' unserved",
    )
    assert body["degraded"] is True
    assert body["problems"] == ["No worker consumes queue 'priority'."]

    # A worker for "priority" comes: every queue is served and nothing is missing.
    specialist = start_worker(("priority",))
    body = eventually(
        lambda: (b := health(client))["checks"]["workers"] == "ok" and b,
        what="the priority worker seen",
    )
    mine = [name for name in body["workers"] if name.startswith(f"{specialist.name}@")]
    assert len(mine) == 1 and body["workers"][mine[0]] == ["priority"]
    assert body["degraded"] is False and body["problems"] == []

    # It stops: health notices, names the queue left without a worker, and stays 200.
    specialist.stop()
    body = eventually(
        lambda: (b := health(client))["checks"]["workers"] == "partial" and b,
        what="the priority worker gone",
    )
    assert not any(name.startswith(f"{specialist.name}@") for name in body["workers"])
    assert body["problems"] == ["No worker consumes queue 'priority'."]
