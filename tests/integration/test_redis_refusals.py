"""A Redis that is up but refuses: the error replies a real deployment meets.

A restart with a large dataset answers ``-LOADING`` until it is loaded; ``maxmemory`` under
``noeviction`` answers writes ``-OOM``; a failed RDB snapshot ``-MISCONF``; a primary demoted
by a failover ``-READONLY`` (and its blocked BRPOPs ``-UNBLOCKED``); a long script ``-BUSY``.
These tests provoke each reply on a redis-server of their own (DEBUG is enabled on it, for
DEBUG RELOAD) and check that every process takes it for the outage it is: the API answers 503
JSON at once, the worker and the beat wait it out, and nothing accepted is lost.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from config.redis_server import RedisServer
from tests.conftest import Sums, Workers
from tests.schedule_support import Schedules, sent_count, start_beat
from tests.support import AppBuilder, Service, eventually, sumflow_app
from workflows import SumflowCelery

pytestmark = pytest.mark.integration

#: The contract: a Redis that cannot serve is reported within 3 seconds.
PROMPT = 3.0
UNAVAILABLE = "Redis is unavailable, try again shortly."
LOADING = "Redis is loading the dataset in memory"


class DebugRedis(RedisServer):
    """A redis-server that takes DEBUG commands from 127.0.0.1 (Redis 7 refuses them by
    default), with AOF in ``data_dir`` so that nothing it saves lands in the working tree."""

    def command(self) -> list[str]:
        return [*super().command(), "--enable-debug-command", "local"]


@pytest.fixture
def debug_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = DebugRedis(data_dir=tmp_path / "redis").start()
    yield server
    server.stop()


def timed(client: FlaskClient, method: str, path: str, body: object = None) -> tuple[int, dict]:
    started = time.monotonic()
    answer = client.open(path, method=method, json=body)
    elapsed = time.monotonic() - started
    assert elapsed < PROMPT, (method, path, elapsed)
    return answer.status_code, answer.json


@contextmanager
def loading(server: RedisServer) -> Iterator[None]:
    """Redis reloading its dataset (as after a restart with a large RDB or AOF): ``-LOADING``
    to nearly every command for about 3 s. 20,000 filler keys in db 1, each loaded
    `key-load-delay` late, and DEBUG RELOAD, which saves the dataset and loads it again."""
    admin = redis.Redis.from_url(server.url)
    # The URL's db wins. No read timeout: DEBUG RELOAD answers once loaded, about 2.5 s on a
    # busy machine, and a read timing out first (redis-py's default: 5 s) would kill the
    # thread below with a TimeoutError, an error to pytest.
    filler = redis.Redis.from_url(server.url.rpartition("/")[0] + "/1", socket_timeout=None)
    filler.execute_command("DEBUG", "POPULATE", 20000, "filler", 10)
    admin.config_set("loading-process-events-interval-bytes", 1024)  # answer -LOADING meanwhile
    admin.config_set("key-load-delay", 50)
    reload = threading.Thread(target=filler.execute_command, args=("DEBUG", "RELOAD"))
    reload.start()
    try:
        eventually(lambda: admin.info("persistence")["loading"] == 1, what="Redis to be loading")
        yield
        assert admin.info("persistence")["loading"] == 1, "loaded too soon: the test proves nothing"
    finally:
        reload.join()
        admin.config_set("key-load-delay", 0)
        filler.flushdb()


def test_schedule_writes_while_redis_loads_its_data_answer_503(
    debug_redis: RedisServer, build_app: AppBuilder
) -> None:
    """WATCH is allowed while Redis loads, the read after it is not. redis-py turns a
    connection error met while watching into a WatchError, which the store took for another
    writer's change: a create answered 409 "exists", an update or a delete 409 "kept changing"
    (after five attempts), although nothing had changed."""
    client = build_app({"redis_url": debug_redis.url}).test_client()
    schedules = Schedules(client)
    schedules.create("kept", a=2, b=3, every=60)

    with loading(debug_redis):
        for method, path, body in [
            ("POST", "/schedules", {"name": "fresh", "a": 1, "b": 1, "every": 60}),
            ("PATCH", "/schedules/kept", {"a": 5}),
            ("DELETE", "/schedules/kept", None),
        ]:
            status, answer = timed(client, method, path, body)
            assert (status, answer["message"]) == (503, UNAVAILABLE), (method, path, answer)
        status, answer = timed(client, "GET", "/health")
        assert (status, answer["message"]) == (503, f"{REFUSES_WRITES}{LOADING}"), answer

    # Loaded: none of the refused writes happened.
    assert client.get("/schedules/fresh").status_code == 404
    assert schedules.get("kept")["a"] == 2


@contextmanager
def out_of_memory(server: RedisServer) -> Iterator[None]:
    """``-OOM`` to every write: maxmemory reached, with the ``noeviction`` the suite's Redis
    (and the README's production Redis) has."""
    admin = redis.Redis.from_url(server.url)
    admin.config_set("maxmemory", 1)
    try:
        yield
    finally:
        admin.config_set("maxmemory", 0)


def _bgsave_status(admin: redis.Redis) -> str:
    return str(admin.info("persistence")["rdb_last_bgsave_status"])


@contextmanager
def snapshots_failing(server: RedisServer) -> Iterator[None]:
    """``-MISCONF`` to every write: an RDB snapshot failed, and stop-writes-on-bgsave-error
    (Redis's default) holds writes back until one succeeds. The snapshot's child process,
    slowed by rdb-key-save-delay, is killed, as the OOM killer or a full disk would end it."""
    assert server.process is not None
    admin = redis.Redis.from_url(server.url)
    admin.config_set("save", "3600 1")  # Redis refuses writes only if it has save points
    admin.config_set("rdb-key-save-delay", 1_000_000)
    admin.bgsave()
    children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    child = eventually(lambda: children.read_text().split(), what="the snapshot's process")
    os.kill(int(child[0]), signal.SIGKILL)
    eventually(lambda: _bgsave_status(admin) == "err", what="the snapshot to fail")
    try:
        yield
    finally:
        admin.config_set("rdb-key-save-delay", 0)
        admin.bgsave()  # a snapshot that succeeds lets writes in again
        eventually(lambda: _bgsave_status(admin) == "ok", what="a snapshot to succeed")
        admin.config_set("save", "")


@contextmanager
def demoted_to_replica(server: RedisServer) -> Iterator[None]:
    """``-READONLY`` to every write, ``-UNBLOCKED`` to blocked BRPOPs: a failover made another
    server the primary and ours its replica. The other server first replicates ours, so it
    holds the same data when promoted; failing back makes ours the primary again."""
    assert server.data_dir is not None
    admin = redis.Redis.from_url(server.url)
    # A directory of its own: as a replica it saves what it receives, in the cwd otherwise.
    other = RedisServer(data_dir=server.data_dir.with_name("promoted")).start()
    try:
        promoted = redis.Redis.from_url(other.url)
        for each in (admin, promoted):  # full syncs at once, not after the default 5 s
            each.config_set("repl-diskless-sync-delay", 0)
        promoted.replicaof("127.0.0.1", server.port)
        eventually(
            lambda: promoted.info("replication")["master_link_status"] == "up",
            what="the other server to replicate ours",
        )
        promoted.replicaof("NO", "ONE")
        admin.replicaof("127.0.0.1", other.port)
        yield
    finally:
        admin.replicaof("NO", "ONE")
        other.stop()


@contextmanager
def busy_script(server: RedisServer) -> Iterator[None]:
    """``-BUSY`` to nearly every command: a script runs past busy-reply-threshold, until an
    operator sends SCRIPT KILL."""
    admin = redis.Redis.from_url(server.url)
    admin.config_set("busy-reply-threshold", 100)

    def run_until_killed() -> None:
        # No read timeout: the reply comes when SCRIPT KILL ends the fault, however long the
        # test takes. With redis-py's default (5 s) a fault held longer on a busy machine
        # killed the thread with a TimeoutError, which pytest reports as an error.
        client = redis.Redis.from_url(server.url, socket_timeout=None)
        try:
            client.eval("while true do end", 0)
        except redis.ResponseError:
            pass  # "Script killed by user with SCRIPT KILL..."

    def refusing() -> bool:
        try:
            admin.exists("probe")
        except redis.ResponseError as exc:  # sumflow's RedisRefusing, once it is imported
            return "busy running a script" in str(exc)
        return False

    script = threading.Thread(target=run_until_killed)
    script.start()
    try:
        # Past the threshold: Redis answers -BUSY from now on. Not a fixed 0.3 s: on a busy
        # machine the thread may not even have sent its EVAL by then.
        eventually(refusing, what="Redis to answer -BUSY")
        yield
    finally:
        admin.script_kill()
        script.join()
        admin.config_set("busy-reply-threshold", 5000)


#: Simulated work per add: the add started before a fault ends while it lasts.
ADD_DELAY = 1.0

#: /health's 503 for a Redis that answers but refuses, and Redis's own reason in each case.
REFUSES_WRITES = "Redis refuses writes: "
REASONS = {
    out_of_memory: "used memory > 'maxmemory'",
    snapshots_failing: "unable to persist to disk",
    demoted_to_replica: "read only replica",
    busy_script: "busy running a script",
}


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, logs_dir: Path
) -> Iterator[tuple[RedisServer, Sums, Service, Service]]:
    """A Redis of this module's own (AOF), the API, one worker with one pool process on
    "default", and a beat sending schedule "steady" every second to "priority", where its runs
    wait instead of holding up the worker."""
    server = DebugRedis(data_dir=tmp_path_factory.mktemp("refusals") / "redis").start()
    beat: Service | None = None
    with sumflow_app({"redis_url": server.url, "add_delay_seconds": ADD_DELAY}) as app:
        celery: SumflowCelery = app.extensions["celery"]
        workers = Workers(server.url, celery, logs_dir)
        try:
            worker = workers.start(("default",), concurrency=1, ADD_DELAY_SECONDS=ADD_DELAY)
            beat = start_beat(server.url, logs_dir)
            Schedules(app.test_client()).create("steady", every=1, queue="priority")
            yield server, Sums(app.test_client()), worker, beat
        finally:
            if beat is not None:
                beat.stop()
            workers.stop_all()
            server.stop()


@pytest.mark.parametrize(
    "fault", [out_of_memory, snapshots_failing, demoted_to_replica, busy_script]
)
def test_a_redis_refusing_is_an_outage_to_every_process(
    stack: tuple[RedisServer, Sums, Service, Service],
    fault: Callable[[RedisServer], AbstractContextManager[None]],
) -> None:
    """redis-py raises these replies as plain ResponseErrors, which kombu, Celery and RedBeat
    take for a bad command, not an outage: the worker exited ("Unrecoverable error") on a
    refused BRPOP (MISCONF, UNBLOCKED) or acknowledgement (OOM), its running add left STARTED
    for good; an add whose sum met -BUSY was stored FAILURE with Redis's message; the beat
    exited at its first tick under any of them."""
    server, sums, worker, beat = stack
    running = sums.submit(20, 22)
    eventually(lambda: sums.result(running)["status"] == "STARTED", what="the add to start")
    sent = sent_count(beat, "steady")

    with fault(server):
        for method, path, body in [
            ("POST", "/add", {"a": 1, "b": 2}),
            ("POST", "/schedules", {"name": "refused", "a": 1, "b": 1, "every": 60}),
        ]:
            status, answer = timed(sums.client, method, path, body)
            assert (status, answer["message"]) == (503, UNAVAILABLE), (method, path, answer)
        # A PING still passed under OOM and READONLY: /health said 200 while every add got 503.
        status, answer = timed(sums.client, "GET", "/health")
        assert status == 503 and answer["message"].startswith(REFUSES_WRITES), answer
        assert REASONS[fault] in answer["message"], answer
        # The running add ends meanwhile: its sum can be neither stored nor acknowledged.
        # The beat ticks twice.
        time.sleep(ADD_DELAY + 1)

    # Redis serves again: the add that was running is done, with its sum.
    assert sums.finished(running, wait=20) == {"status": "SUCCESS", "result": 42}
    for each in (worker, beat):
        assert each.process is not None and each.process.poll() is None, each.log()[-3000:]
    assert sums.finished(sums.submit(1, 1), wait=20) == {"status": "SUCCESS", "result": 2}
    eventually(lambda: sent_count(beat, "steady") > sent + 1, what="the beat to send again")
    assert sums.client.get("/schedules/refused").status_code == 404
