"""Redis stopped: quick 503s, never a hang; Redis back: the API and workers recover alone."""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import states, uuid
from celery.app.task import Context
from celery.exceptions import Retry
from flask.testing import FlaskClient
from kombu import Exchange, Queue

from config import load_settings
from config.redis_server import RedisServer
from tests.conftest import TEST_ADD_DELAY, Sums
from tests.schedule_support import STANDING_BY, Schedules, sent_count, start_beat
from tests.support import AppBuilder, Service, eventually, wait_for_worker
from workflows import create_celery
from workflows.backend import CANCELLED_MESSAGE
from workflows.canvas_tasks import SUM_ALL_TASK
from workflows.celery_app import SumflowCelery
from workflows.redis_client import create_redis
from workflows.registry import mark_issued
from workflows.results import TaskView, meta_key, wait_for_task

pytestmark = pytest.mark.integration

#: The contract: a Redis outage is reported within 3 seconds.
PROMPT = 3.0
#: A short visibility timeout, so that abandoned messages come back within seconds.
VISIBILITY_TIMEOUT = 5


def open_connections_to(port: int) -> int:
    """Redis connections of this process to ``port`` that still hold a socket."""
    return sum(
        1
        for obj in gc.get_objects()
        if isinstance(obj, redis.connection.AbstractConnection)
        and getattr(obj, "port", None) == port
        and obj._sock is not None
    )


def test_a_channel_closed_after_redis_went_away_leaves_no_socket_open(
    own_redis: RedisServer,
) -> None:
    """A worker closes its broker channels each time Redis goes away. kombu's close deletes
    the channel's fanout queues first (the worker's pidbox is one), which fails on the dead
    connection before it disconnects the channel's pool: every Redis restart left the worker,
    and each pool process forked after it, with sockets in CLOSE-WAIT (16 more fds after 11
    restarts in a soak)."""
    celery = create_celery(load_settings(redis_url=own_redis.url))
    with celery.connection_for_read() as connection:
        channel = connection.channel()
        fanout = Queue("probe", Exchange("probe", type="fanout"), auto_delete=True)
        fanout(channel).declare()
        channel.client.ping()
        assert open_connections_to(own_redis.port) > 0

        own_redis.stop()
        with pytest.raises(channel.connection_errors):
            channel.close()

        assert open_connections_to(own_redis.port) == 0


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.stop()


def timed(call: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def expect_outage_answers(client: FlaskClient) -> None:
    """Health, submissions and reads all say "unavailable" promptly, as JSON, never a 500."""
    health, elapsed = timed(lambda: client.get("/health"))
    assert health.status_code == 503 and elapsed < PROMPT
    # Not why: the endpoint is open to anyone, and the error names Redis's address.
    assert health.json["message"] == "Redis does not answer."
    add, elapsed = timed(lambda: client.post("/add", json={"a": 1, "b": 2}))
    assert add.status_code == 503 and elapsed < PROMPT
    assert add.json["message"].startswith("Redis is unavailable")
    assert int(add.headers["Retry-After"]) > 0
    keyed, elapsed = timed(
        lambda: client.post("/add", json={"a": 1, "b": 2}, headers={"Idempotency-Key": "k-1"})
    )
    assert keyed.status_code == 503 and elapsed < PROMPT
    result, elapsed = timed(lambda: client.get("/result/some-id"))
    assert result.status_code == 503 and elapsed < PROMPT


def test_the_outage_warning_cannot_be_made_to_forge_a_log_line(
    build_app: AppBuilder, caplog: pytest.LogCaptureFixture
) -> None:
    """The warning names the request's path, and a path may hold an encoded line break: it is
    written escaped, as the access log writes it, so no client can add a line of its own."""
    from config.redis_server import free_port

    app = build_app({"redis_url": f"redis://127.0.0.1:{free_port()}/0", "rate_limit": ""})
    forged = "%0A2026-01-01 00:00:00,000 [1] [ERROR] forged%0D"
    with caplog.at_level(logging.WARNING, logger="api.errors"):
        response = app.test_client().get(f"/result/x{forged}?wait=0")
    assert response.status_code == 503
    (record,) = caplog.records
    message = record.getMessage()
    assert "\n" not in message and "\r" not in message
    assert "GET /result/x\\n2026-01-01 00:00:00,000 [1] [ERROR] forged\\r?wait=0:" in message


def test_outage_gives_503_then_recovers_every_time(
    own_redis: RedisServer, start_worker: Callable[..., Service], build_app: AppBuilder
) -> None:
    # The rate limiter is on: it must fail open (the 503 handler answers), not fail with 500.
    app = build_app(
        {"redis_url": own_redis.url, "add_delay_seconds": TEST_ADD_DELAY, "rate_limit": "50/second"}
    )
    client: FlaskClient = app.test_client()
    sums = Sums(client)
    start_worker(("default",), url=own_redis.url)

    # Before: everything works.
    assert sums.finished(sums.submit(1, 2), wait=20)["result"] == 3
    assert client.get("/health").status_code == 200

    # Several outages in a row: workers have been known to stop consuming after a reconnect
    # (celery#8030, #10205), so each time a new add must go all the way through.
    for round_ in range(3):
        # Redis goes away: health and submissions say so promptly, as JSON.
        own_redis.stop()
        expect_outage_answers(client)

        # Redis comes back on the same port: no restarts needed anywhere.
        own_redis.start()
        eventually(lambda: client.get("/health").status_code == 200, what="health to recover")
        task_id = eventually(
            lambda round_=round_: (
                (r := client.post("/add", json={"a": round_, "b": 3})).status_code == 202
                and r.json["task_id"]
            ),
            what="submissions to be accepted again",
        )
        assert sums.finished(task_id, wait=30) == {"status": "SUCCESS", "result": round_ + 3}


#: A Redis that accepts connections but does not answer costs each call its read timeout
#: (REDIS_TIMEOUT_SECONDS, doubled for sumflow's own client) once or twice: never a hang.
#: The contract's bound (docs/reliability.md): 4 s. Measured: 1.0 s to 2.1 s.
FROZEN_PROMPT = 4.0


def test_a_redis_that_stops_answering_gives_503_not_a_hang(
    own_redis: RedisServer, build_app: AppBuilder
) -> None:
    client = build_app({"redis_url": own_redis.url}).test_client()
    added = client.post("/add", json={"a": 1, "b": 2})  # connections made
    assert added.status_code == 202
    task_id = added.json["task_id"]
    assert client.get(f"/result/{task_id}?wait=0.1").status_code == 200  # and a pub/sub one
    assert own_redis.process is not None

    # Frozen, not gone: the kernel still accepts connections, nothing answers them. Before
    # the broker had a read timeout, this POST waited for as long as Redis stayed frozen.
    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        for method, path, body, headers in [
            ("POST", "/add", {"a": 1, "b": 2}, {}),  # the publish: no read timeout, it hung
            ("GET", "/health", None, {}),
            # Long-polls: their subscription's confirmation took the whole wait (20 s), then
            # the read its timeout.
            ("GET", f"/result/{task_id}?wait=20", None, {}),
            ("POST", "/add", {"a": 1, "b": 2}, {"Prefer": "wait=20"}),
        ]:
            answer, elapsed = timed(
                lambda m=method, p=path, b=body, h=headers: client.open(
                    p, method=m, json=b, headers=h
                )
            )
            # /health has the contract's own bound (API.md): it makes a single call to Redis.
            bound = PROMPT if path == "/health" else FROZEN_PROMPT
            assert answer.status_code == 503 and elapsed < bound, (path, elapsed)
            assert answer.json["code"] == 503, path
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)

    # Thawed: the same client works again.
    eventually(lambda: client.get("/health").status_code == 200, what="health to recover")
    assert client.post("/add", json={"a": 1, "b": 2}).status_code == 202


def test_a_publish_into_a_frozen_redis_tries_one_new_connection_not_two(
    own_redis: RedisServer,
    build_app: AppBuilder,
) -> None:
    """Each new connection to a frozen Redis waits REDIS_TIMEOUT_SECONDS for its PING. kombu's
    publish retry tried two, and a POST /add took 3.1 s (`give_up_on_a_frozen_redis`)."""
    client = build_app({"redis_url": own_redis.url}).test_client()
    assert client.post("/add", json={"a": 1, "b": 2}).status_code == 202
    observer = redis.Redis.from_url(own_redis.url)
    connections_before = observer.info("stats")["total_connections_received"]
    assert own_redis.process is not None

    os.kill(own_redis.process.pid, signal.SIGSTOP)
    try:
        answer = client.post("/add", json={"a": 1, "b": 2})
    finally:
        os.kill(own_redis.process.pid, signal.SIGCONT)

    assert answer.status_code == 503
    assert answer.json["message"] == "Redis is unavailable, try again shortly."

    # The publish timed out on its pooled connection; the retry opened one more, whose PING
    # timed out too. Redis accepted it once thawed, and no other. The thawed Redis may answer
    # the observer before it accepts what waited in its backlog (the order of one event-loop
    # turn); it accepts the whole backlog in one turn, so the first count above 0 is final.
    def connections() -> int:
        return observer.info("stats")["total_connections_received"] - connections_before

    eventually(lambda: connections() > 0, what="the thawed Redis to accept its backlog")
    assert connections() == 1
    # Thawed: the next POST is accepted at once.
    assert client.post("/add", json={"a": 1, "b": 2}).status_code == 202


@pytest.fixture
def restartable_stack(
    tmp_path: Path, start_worker: Callable[..., Service], build_app: AppBuilder
) -> Iterator[tuple[RedisServer, Sums, Service]]:
    """An AOF Redis (as `make run` keeps it), a worker and an API client, with the default
    10-minute visibility timeout: whatever a test sees run again within seconds was requeued
    by the worker itself, not by the visibility sweep."""
    server = RedisServer(data_dir=tmp_path / "redis").start()
    try:
        settings = {"redis_url": server.url, "add_delay_seconds": 2}
        app = build_app(settings)
        worker = start_worker(("default",), url=server.url, ADD_DELAY_SECONDS=2)
        wait_for_worker(app.extensions["celery"], worker.name)  # type: ignore[attr-defined]
        yield server, Sums(app.test_client()), worker
    finally:
        server.stop()


def restart(server: RedisServer) -> None:
    server.stop()
    time.sleep(1)
    server.start()


def test_what_a_worker_held_when_redis_restarted_runs_again_once_it_reconnects(
    restartable_stack: tuple[RedisServer, Sums, Service],
) -> None:
    """A running add, which the worker stops when it loses Redis, and countdown adds it was
    holding, which Celery then forgets, used to come back only after the visibility timeout:
    ten minutes."""
    server, sums, worker = restartable_stack
    client = redis.Redis.from_url(server.url)
    task_id = sums.submit(30, 12)
    eventually(lambda: sums.result(task_id)["status"] == "STARTED", what="the add to start")
    later = [sums.submit(30, n, countdown=4) for n in range(3)]
    eventually(lambda: client.hlen("unacked") == 4, what="the worker to hold all four")

    restart(server)

    # The running add shows RETRY (RunCancelled) until the worker has reconnected; then the
    # worker puts every message back itself.
    seen: set[tuple[str, object]] = set()

    def succeeded() -> bool:
        view = sums.result(task_id)
        seen.add((view["status"], view["result"]))
        return view["status"] == "SUCCESS"

    eventually(succeeded, timeout=20, interval=0.05, what="the add to run again and complete")
    assert seen <= {
        ("STARTED", None),
        ("RETRY", f"RunCancelled: {CANCELLED_MESSAGE}"),
        ("SUCCESS", 42),
    }, seen
    for n, countdown_id in enumerate(later):  # due 4 s after they were sent: on time
        assert sums.finished(countdown_id, wait=15) == {"status": "SUCCESS", "result": 30 + n}
    log = worker.log()
    assert f"sumflow.add[{task_id}] RETRY" in log
    assert all(f"sumflow.add[{tid}] requeued" in log for tid in (task_id, *later)), log
    # Requeued once: once the reruns are acknowledged (just after their results are stored),
    # nothing is left in kombu's unacknowledged hash or in the queue.
    eventually(lambda: client.hlen("unacked") == 0, what="the reruns to be acknowledged")
    assert client.llen("default") == 0
    # And the worker is still there, consuming (kombu 5.7 alone shuts it down here).
    assert worker.process is not None and worker.process.poll() is None, worker.log()
    assert sums.finished(sums.submit(1, 1), wait=20) == {"status": "SUCCESS", "result": 2}


def test_the_first_health_after_a_redis_restart_sees_the_workers(
    restartable_stack: tuple[RedisServer, Sums, Service],
) -> None:
    """The web process's pooled broker connections die with the old Redis. Collecting the
    workers' replies over one used to fail, and /health then said that no worker was up."""
    server, sums, worker = restartable_stack
    api = sums.client

    def health() -> dict[str, Any]:
        answer = api.get("/health")
        assert answer.status_code == 200, answer.json
        return answer.json

    def lists_the_worker(body: dict[str, Any]) -> bool:
        return any(name.startswith(f"{worker.name}@") for name in body["workers"])

    assert lists_the_worker(health())  # and the web process's pools hold connections now
    task_id = sums.submit(1, 2, countdown=60)

    restart(server)
    eventually(lambda: worker.log().count("Connected to") >= 2, what="the worker to reconnect")
    # Consuming again: its connections wait on the queues (BRPOP) and on the broadcasts a
    # ping arrives by (PSUBSCRIBE). Read from Redis's side, so that no client of this
    # process (they share kombu's pools with the API) touches a connection first.
    commands = redis.Redis.from_url(server.url)
    eventually(
        lambda: {"brpop", "psubscribe"} <= {c["cmd"] for c in commands.client_list()},
        what="the worker to listen again",
    )
    listening = datetime.now(UTC)

    revoke = api.delete(f"/tasks/{task_id}")
    assert revoke.status_code == 202, revoke.json
    # /health asks the workers again in the background once its answer is 3 s old.
    body = eventually(
        lambda: (b := health()) and datetime.fromisoformat(b["workers_as_of"]) > listening and b,
        what="the workers asked again",
    )
    assert lists_the_worker(body)


#: Outages the web process's inspects see fail (they come every 3 s), and one they may miss:
#: then only the inspect after it finds the workers away, reconnecting.
HEALTH_OUTAGES = (4.0, 1.0)


def test_a_redis_outage_is_not_reported_as_the_workers_gone(
    own_redis: RedisServer, start_worker: Callable[..., Service], build_app: AppBuilder
) -> None:
    """The inspect sent during an outage failed, and was kept as "no worker answered"; so was
    one sent before the workers had reconnected. /health then said ``workers: down`` for
    seconds after Redis came back, and an alert on ``degraded`` fired after every blip."""
    app = build_app({"redis_url": own_redis.url})
    api = app.test_client()
    worker = start_worker(url=own_redis.url)  # every queue: "ok" while it is seen
    wait_for_worker(app.extensions["celery"], worker.name)  # type: ignore[attr-defined]

    def lists_the_worker(body: dict[str, Any]) -> bool:
        return any(name.startswith(f"{worker.name}@") for name in body["workers"])  # type: ignore[attr-defined]

    assert lists_the_worker(api.get("/health").json)
    for outage in HEALTH_OUTAGES:
        # Down: /health is 503 and says nothing of the workers.
        own_redis.stop()
        ends = time.monotonic() + outage
        while time.monotonic() < ends:
            answer = api.get("/health")
            assert answer.status_code == 503, answer.json
            assert answer.json["message"] == "Redis does not answer."
            time.sleep(0.2)

        # Back: the last answer from before the outage stands until the workers have
        # reconnected and answered again; no answer in between says they are gone.
        own_redis.start()
        back = datetime.now(UTC)
        said: list[str] = []

        def answered_since(back: datetime = back, said: list[str] = said) -> dict[str, Any]:
            answer = api.get("/health")
            assert answer.status_code == 200, answer.json
            said.append(answer.json["checks"]["workers"])
            fresh = datetime.fromisoformat(answer.json["workers_as_of"]) > back
            return answer.json if fresh else {}

        body = eventually(answered_since, what=f"the workers to answer after {outage} s")
        assert lists_the_worker(body), outage
        assert set(said) == {"ok"}, (outage, said)


def test_a_run_cancelled_by_a_lost_connection_reads_as_such(
    celery_app: SumflowCelery, sums: Sums
) -> None:
    """Celery stores a cancelled run as ``Retry(message=...)``, whose arguments read
    ``Retry(Retry(...), None, None)``; sumflow's backend stores what happened instead."""
    task_id = uuid()
    mark_issued(celery_app.backend.client, [task_id], "add", 60)
    celery_app.backend.mark_as_retry(task_id, Retry(message="cancelled by Celery"))
    assert sums.result(task_id) == {
        "status": "RETRY",
        "result": f"RunCancelled: {CANCELLED_MESSAGE}",
    }


def test_a_long_poll_after_a_redis_restart_replaces_its_stale_connection(
    own_redis: RedisServer,
) -> None:
    """Each thread keeps its pub/sub connection between long-polls; the one it kept died with
    the old Redis. redis-py's pub/sub sends a health-check PING before it reads, outside its
    retry (redis-py#3613), so the first ``?wait`` after the restart answered 503 "Broken pipe"
    although Redis was up. The check runs once the connection idled past its interval: 25 s
    in production, 1 s here."""
    client = create_redis(load_settings(redis_url=own_redis.url))
    client.connection_pool.connection_kwargs["health_check_interval"] = 1
    mark_issued(client, ["before"], "add", 60)
    assert wait_for_task(client, "before", 0.2) == TaskView(states.PENDING, None)

    own_redis.stop()
    own_redis.start()
    time.sleep(1.5)  # idle past the health-check interval
    mark_issued(client, ["after"], "add", 60)
    client.set(meta_key("after"), json.dumps({"status": states.SUCCESS, "result": 5}))

    assert wait_for_task(client, "after", 1) == TaskView(states.SUCCESS, 5)


def test_a_prefer_wait_add_cut_short_by_an_outage_answers_202_with_its_id(
    tmp_path: Path,
    build_app: AppBuilder,
) -> None:
    server = RedisServer(data_dir=tmp_path / "redis").start()  # AOF: the queue survives
    try:
        client = build_app({"redis_url": server.url}).test_client()
        # No worker: the add stays queued and the POST waits, until Redis goes away.
        with ThreadPoolExecutor(1) as pool:
            posted = pool.submit(
                client.post, "/add", json={"a": 4, "b": 5}, headers={"Prefer": "wait=20"}
            )
            queue = redis.Redis.from_url(server.url)
            eventually(lambda: queue.llen("default") == 1, what="the add to be queued")
            server.stop()
            response = posted.result(timeout=PROMPT + 1)

        # The add was queued before the outage: the client gets its id, not a 503 that
        # would have it submit the add a second time.
        assert response.status_code == 202, response.json
        task_id = response.json["task_id"]
        assert response.headers["Location"].endswith(f"/result/{task_id}")

        # Once Redis is back the add is known and still queued: nothing was lost.
        server.start()
        assert client.get(f"/result/{task_id}").json == {"status": "PENDING", "result": None}
        queued = create_redis(load_settings(redis_url=server.url)).lrange("default", 0, -1)
        assert [json.loads(m)["headers"]["id"] for m in queued] == [task_id]
    finally:
        server.stop()


def test_the_beats_keep_scheduling_through_a_redis_outage(
    tmp_path: Path, logs_dir: Path, start_worker: Callable[..., Service], build_app: AppBuilder
) -> None:
    server = RedisServer(data_dir=tmp_path / "redis").start()  # AOF: the schedule survives
    beats: list[Service] = []
    try:
        schedules = Schedules(build_app({"redis_url": server.url}).test_client())
        start_worker(("default",), url=server.url)
        beat = start_beat(server.url, logs_dir, BEAT_LOCK_TIMEOUT_SECONDS=3)
        # A second beat stands by for the lock, as on a second machine.
        standby = start_beat(server.url, logs_dir, wait=False, BEAT_LOCK_TIMEOUT_SECONDS=3)
        beats += [beat, standby]
        eventually(lambda: STANDING_BY in standby.log(), what="the second beat to stand by")
        schedules.create("steady", a=40, b=2, every=1)
        schedules.wait_for_runs("steady", 1)

        def sent() -> int:
            return sent_count(beat, "steady") + sent_count(standby, "steady")

        # An outage that outlasts the beats' 3 s lock: stock RedBeat exits at the first tick
        # that cannot reach Redis (redbeat#285), ours waits it out.
        server.stop()
        time.sleep(5)
        server.start()
        before = [sent_count(each, "steady") for each in beats]
        eventually(lambda: sent() >= sum(before) + 3, what="runs to resume")
        for each in beats:
            assert each.process is not None and each.process.poll() is None, each.log()
        # Whichever beat took the lock after the outage, it alone sends.
        resumed = [
            sent_count(each, "steady") - count for each, count in zip(beats, before, strict=True)
        ]
        assert min(resumed) == 0, resumed

        log = beat.log() + standby.log()
        assert "beat: Redis unreachable" in log and "beat: Redis is back" in log
        # Each beat, the standby too, logs the outage once, as a line and not a traceback.
        for each in beats:
            assert each.log().count("beat: Redis unreachable") == 1, each.log()
            assert "Traceback" not in each.log(), each.log()
        assert "beat: lost the lock (it expired, or another beat took it)" in log
        assert log.count("beat: Acquired lock") >= 2  # at start, and after the outage
        # The runs sent after the outage are done by the worker, and add up.
        runs = schedules.wait_for_runs("steady", schedules.get("steady")["total_run_count"])
        assert {run["result"] for run in runs if run["status"] == "SUCCESS"} == {42}
    finally:
        for each in beats:
            each.stop()
        server.stop()


def test_a_chord_member_counted_while_redis_restarts_is_counted_once_it_is_back(
    tmp_path: Path,
    build_app: AppBuilder,
) -> None:
    """The worker stores a member's result, then counts it towards its chord. Redis gone
    between the two used to fail the member, and the chord with it; the count now waits for
    Redis as the result does, and the last member still sends the callback."""
    server = RedisServer(data_dir=tmp_path / "redis").start()  # AOF: the chord survives
    try:
        celery = build_app({"redis_url": server.url}).extensions["celery"]
        backend = celery.backend
        group_id, member_id, callback_id = uuid(), uuid(), uuid()
        callback = celery.tasks[SUM_ALL_TASK].signature((), {}, task_id=callback_id)
        callback.freeze(callback_id, group_id=group_id)
        backend.set_chord_size(group_id, 1)
        member = Context(id=member_id, group=group_id, group_index=0, chord=callback)

        server.stop()
        restart = threading.Timer(1.5, server.start)
        restart.start()
        try:
            backend.on_chord_part_return(member, states.SUCCESS, 3)
        finally:
            restart.join()

        # Counted: the chord was complete, so its callback was sent, with the member's sum.
        queued = [json.loads(m) for m in redis.Redis.from_url(server.url).lrange("default", 0, -1)]
        assert [(m["headers"]["id"], m["headers"]["task"]) for m in queued] == [
            (callback_id, SUM_ALL_TASK)
        ]
    finally:
        server.stop()
