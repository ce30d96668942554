"""GET /health sees the whole system: real workers and a real beat come and go, and it says so."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask.testing import FlaskClient

from tests.support import Service, beat_command, eventually, logged, service_env, start_api
from workflows.shared_settings import LEGACY_SETTINGS_KEY, SETTINGS_KEY_PREFIX, settings_key

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


#: What a web process is given to ask the workers as it starts: their answer takes 1 s.
WARM_UP = 2.5


def test_each_web_process_has_asked_the_workers_before_its_first_health(
    redis_url: str, worker: Service, logs_dir: Path
) -> None:
    """Each of the web server's processes keeps its own answer from the workers, and getting
    one takes the inspect's whole second: the first /health of each process waited for it,
    longer than a 1 s probe timeout (Kubernetes' default). Each process asks as it starts."""
    log = logs_dir / "api-warm.log"
    api, url = start_api(redis_url, log, WEB_WORKERS=2)
    try:
        time.sleep(WARM_UP)  # no request meanwhile: only the processes themselves ask
        first: dict[str, tuple[datetime, dict[str, Any]]] = {}
        for _ in range(40):  # each request goes to either process
            sent = datetime.now(UTC)
            answer = requests.get(f"{url}/health", headers={"Connection": "close"}, timeout=5)
            assert answer.status_code == 200, answer.text
            request_id = answer.headers["X-Request-ID"]
            line = re.search(
                rf"\[(\d+)\] \[INFO\] sumflow\.access: .*request={request_id}",
                logged(api.log, f"request={request_id}"),
            )
            assert line is not None
            first.setdefault(line[1], (sent, answer.json()))
            if len(first) == 2:
                break
        assert len(first) == 2, "one web process answered every request"
        for process, (sent, body) in first.items():
            # The answer was there before the request: no request waited for it.
            assert datetime.fromisoformat(body["workers_as_of"]) < sent, process
            assert any(name.startswith(f"{worker.name}@") for name in body["workers"])  # type: ignore[attr-defined]
    finally:
        api.stop()


def test_health_names_a_setting_a_worker_holds_otherwise(
    client: FlaskClient,
    worker: Service,
    start_worker: Callable[..., Service],
    redis_url: str,
) -> None:
    """Every process must share VISIBILITY_TIMEOUT_SECONDS and the queues; each reads its own
    environment. A worker with a shorter visibility timeout ran one add 3 times, unseen."""
    odd = start_worker(("priority",), VISIBILITY_TIMEOUT_SECONDS=20, ADD_DELAY_SECONDS=1)
    body = eventually(
        lambda: (b := health(client))["checks"]["settings"] == "differ" and b,
        what="the difference seen",
    )
    (name,) = [worker for worker in body["workers"] if worker.startswith(f"{odd.name}@")]
    assert body["degraded"] is True
    assert (
        f"VISIBILITY_TIMEOUT_SECONDS is 20 on worker {name} but 600 here: "
        "every process must have the same."
    ) in body["problems"]
    # The shared worker holds the same settings as this process: it is not named.
    assert [p for p in body["problems"] if "every process" in p and name not in p] == []

    published = redis.Redis.from_url(redis_url)
    assert published.exists(settings_key(name))
    odd.stop()  # a worker that stops withdraws its settings
    assert not published.exists(settings_key(name))
    body = eventually(
        lambda: (b := health(client))["checks"]["settings"] == "ok" and b,
        what="the difference gone",
    )
    assert not any("every process" in problem for problem in body["problems"])


def settings_published(client: redis.Redis, worker: str) -> list[bytes]:
    """What Redis holds of the settings of workers named ``worker@...``, wherever this
    version or the one before kept them: keys of their own, or fields of one hash."""
    keys = list(client.scan_iter(match=f"{SETTINGS_KEY_PREFIX}{worker}@*"))
    fields = [f for f in client.hkeys(LEGACY_SETTINGS_KEY) if f.startswith(f"{worker}@".encode())]
    return keys + fields


def test_a_killed_workers_settings_expire_and_a_live_ones_do_not(
    quiet_redis_url: str, start_worker: Callable[..., Service]
) -> None:
    """A worker killed with SIGKILL cannot withdraw its settings. In a fleet whose worker names
    change with every deploy (container ids), entries that stayed forever grew without bound.
    An entry lasts as long as its worker's visibility timeout (here 4 s) unless refreshed."""
    ttl = 4
    published = redis.Redis.from_url(quiet_redis_url)
    live = start_worker(url=quiet_redis_url, VISIBILITY_TIMEOUT_SECONDS=ttl)
    doomed = start_worker(url=quiet_redis_url, VISIBILITY_TIMEOUT_SECONDS=ttl)
    for worker in (live, doomed):
        eventually(
            lambda w=worker: settings_published(published, w.name),
            timeout=30,
            what=f"{worker.name}'s settings published",
        )

    # Killed: nothing withdraws its entry, and it goes once its time is up. The live worker
    # refreshes its own: it is there all along, from now for twice its TTL and more.
    since = time.monotonic()
    doomed.kill()

    def doomed_gone() -> bool:
        assert settings_published(published, live.name)
        return not settings_published(published, doomed.name)

    eventually(
        doomed_gone, timeout=ttl + 15, interval=0.2, what="the killed worker's settings to expire"
    )
    while time.monotonic() - since < 2 * ttl:
        assert settings_published(published, live.name)
        time.sleep(0.2)
