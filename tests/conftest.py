"""Fixtures: a private redis-server on a free port, real Celery workers, the app and a client.

Nothing here talks to a Redis that happens to be running on the machine. Session fixtures are
per process: under `make test` (pytest-xdist, whole files per process) each process has its
own Redis, shared worker and API, so tests in different processes never see each other's work.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from config.redis_server import RedisServer
from tests.support import (
    AppBuilder,
    Service,
    service_env,
    start_api,
    sumflow_app,
    wait_for_worker,
    worker_command,
)
from workflows import SumflowCelery

#: Simulated work per add in tests: long enough to see PENDING/STARTED, short enough to be quick.
TEST_ADD_DELAY = 0.2
_names = itertools.count(1)


#: REDIS_URL for the whole session: a port nothing listens on. Settings read from the
#: environment would otherwise default to 127.0.0.1:6379, where this machine may run a Redis of
#: its own: a test that forgot to pass its Redis would pass here and fail elsewhere. It fails
#: here too, at once.
UNREACHABLE_REDIS = "redis://127.0.0.1:9/0"


@pytest.fixture(scope="session", autouse=True)
def no_redis_by_default() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REDIS_URL", UNREACHABLE_REDIS)
        yield


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(scope="module")
def quiet_redis_url() -> Iterator[str]:
    """A Redis of the test module's own: no worker or beat adds commands or takes messages."""
    server = RedisServer().start()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def app(redis_url: str) -> Iterator[Flask]:
    # No rate limit for the shared app: tests may submit faster than a client would;
    # tests/integration/test_rate_limit.py covers the limiter with apps of its own.
    with sumflow_app(
        {"redis_url": redis_url, "add_delay_seconds": TEST_ADD_DELAY, "rate_limit": ""}
    ) as app:
        yield app


@pytest.fixture
def build_app() -> Iterator[AppBuilder]:
    """`create_app` for a test that needs settings of its own. The apps it builds are closed
    when the test ends: a dropped app's Redis sockets would otherwise be closed by the garbage
    collector during some later test, whose run then fails on the ResourceWarning."""
    with ExitStack() as apps:
        yield lambda config: apps.enter_context(sumflow_app(config))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def celery_app(app: Flask) -> SumflowCelery:
    return app.extensions["celery"]


class Workers:
    """Starts real worker processes against the suite's Redis and stops them afterwards."""

    def __init__(self, redis_url: str, celery_app: SumflowCelery, logs_dir: Path) -> None:
        self.redis_url, self.celery_app, self.logs_dir = redis_url, celery_app, logs_dir
        self.started: list[Service] = []

    def start(
        self,
        queues: tuple[str, ...] = ("default", "priority"),
        *,
        concurrency: int = 2,
        url: str | None = None,
        wait: bool = True,
        include: tuple[str, ...] = (),
        **env: Any,
    ) -> Service:
        name = f"w{next(_names)}"
        env.setdefault("ADD_DELAY_SECONDS", TEST_ADD_DELAY)
        service = Service(
            worker_command(name, queues, concurrency, include),
            service_env(url or self.redis_url, **env),
            self.logs_dir / f"{name}.log",
        ).start()
        service.name = name  # type: ignore[attr-defined]
        self.started.append(service)
        if wait and url is None:
            wait_for_worker(self.celery_app, name)
        return service

    def stop_all(self) -> None:
        for service in self.started:
            service.stop()
        self.started.clear()


def shared_worker(redis_url: str, celery_app: SumflowCelery, logs_dir: Path) -> Iterator[Service]:
    """The body of a shared-worker fixture. It consumes only "default", so that tests can watch
    work wait in "priority" until they start a worker for it."""
    workers = Workers(redis_url, celery_app, logs_dir)
    yield workers.start(("default",), concurrency=4)
    workers.stop_all()


@pytest.fixture(scope="session")
def worker(redis_url: str, celery_app: SumflowCelery, logs_dir: Path) -> Iterator[Service]:
    """The session's shared worker (`shared_worker`)."""
    yield from shared_worker(redis_url, celery_app, logs_dir)


@pytest.fixture
def start_worker(
    redis_url: str, celery_app: SumflowCelery, logs_dir: Path
) -> Iterator[Callable[..., Service]]:
    """Start extra workers for one test; they are stopped when the test ends."""
    workers = Workers(redis_url, celery_app, logs_dir)
    yield workers.start
    workers.stop_all()


class Sums:
    """Repeated client steps of the walk-through, so tests read like the README."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def submit(self, a: Any, b: Any, **options: Any) -> str:
        response = self.client.post("/add", json={"a": a, "b": b, **options})
        assert response.status_code == 202, response.json
        return response.json["task_id"]

    def result(self, task_id: str, wait: float = 0) -> dict[str, Any]:
        response = self.client.get(f"/result/{task_id}", query_string={"wait": wait})
        assert response.status_code == 200, response.json
        return response.json

    def finished(self, task_id: str, wait: float = 15) -> dict[str, Any]:
        body = self.result(task_id, wait=wait)
        assert body["status"] in ("SUCCESS", "FAILURE", "REVOKED"), body
        return body


@pytest.fixture
def sums(client: FlaskClient) -> Sums:
    return Sums(client)


def served_api(redis_url: str, log: Path) -> Iterator[str]:
    """The body of a live-API fixture: the API with two worker processes, as `make run` serves
    it, on a free port and ``redis_url``."""
    service, url = start_api(redis_url, log, WEB_WORKERS=2, ADD_DELAY_SECONDS=TEST_ADD_DELAY)
    yield url
    service.stop()


@pytest.fixture(scope="session")
def live_api(redis_url: str, logs_dir: Path) -> Iterator[str]:
    """The API on the suite's Redis, for tests that speak real HTTP (the CLI, /metrics)."""
    yield from served_api(redis_url, logs_dir / "live-api.log")


@pytest.fixture(scope="module")
def fast_worker(redis_url: str, celery_app: SumflowCelery, logs_dir: Path) -> Iterator[Service]:
    """A worker for one test module that adds without simulated work, consuming "priority":
    for large workflows, sent there with ``"queue": "priority"``. Stopped after the module,
    so other modules still find "priority" without a consumer."""
    workers = Workers(redis_url, celery_app, logs_dir)
    yield workers.start(("priority",), concurrency=2, ADD_DELAY_SECONDS=0)
    workers.stop_all()
