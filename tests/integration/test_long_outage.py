"""A Redis outage longer than an add: the worker stays up, and every add ends with its sum, once."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from kombu.common import ignore_errors

from config import load_settings
from config.redis_server import RedisServer
from tests.conftest import Sums
from tests.support import AppBuilder, Service, eventually, logged, wait_for_worker
from workflows import create_celery
from workflows.requeue import unrestored

pytestmark = pytest.mark.integration

#: Simulated work per add, and an outage that outlasts it by a few seconds: long enough for
#: an add left running to reach its end while Redis is away.
ADD_DELAY = 2
OUTAGE = ADD_DELAY + 3


def running_children(service: Service) -> set[int]:
    """The service's child processes that have not ended: while the worker waits for Redis,
    it does not reap the pool processes it stopped, and they stay zombies until it is back."""
    return {pid for pid in service.children() if process_state(pid) not in ("Z", None)}


def process_state(pid: int) -> str | None:
    """The process's state letter in /proc (R, S, Z...), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rpartition(")")[2].split()[0]


def test_adds_running_when_redis_stops_are_stopped_at_once_and_each_runs_again_once(
    tmp_path: Path, start_worker: Callable[..., Service], build_app: AppBuilder
) -> None:
    """A worker that loses Redis stops its running adds and stores RETRY for each. Celery
    stored that RETRY before stopping the next add, waiting for Redis in the worker's main
    process: the other adds ran on through the outage to their end, were requeued once Redis
    was back and ran twice (or their acknowledgements stopped the worker, before
    `workflows.broker.Channel.forgo`).

    Meanwhile the worker tries to reach Redis every 2 s. kombu's pauses grew by 2 s a try,
    up to 30 s, so after an outage of minutes the worker came back up to 30 s after Redis."""
    server = RedisServer(data_dir=tmp_path / "redis").start()  # AOF, as in production
    try:
        app = build_app({"redis_url": server.url, "add_delay_seconds": ADD_DELAY})
        sums = Sums(app.test_client())
        worker = start_worker(
            ("default",), concurrency=3, url=server.url, ADD_DELAY_SECONDS=ADD_DELAY
        )
        wait_for_worker(app.extensions["celery"], worker.name)  # type: ignore[attr-defined]
        running = [sums.submit(n, 100) for n in range(3)]
        eventually(
            lambda: all(sums.result(t)["status"] == "STARTED" for t in running),
            what="the adds to start",
        )
        busy = running_children(worker)  # one pool process per running add
        queued = [sums.submit(n, 200) for n in range(2)]

        server.stop()
        time.sleep(OUTAGE)
        # Still away: every running add was stopped, its pool process ended.
        assert not busy & running_children(worker), worker.log()
        server.start()

        expected = {t: n + 100 for n, t in enumerate(running)}
        expected.update({t: n + 200 for n, t in enumerate(queued)})
        for task_id, total in expected.items():
            assert sums.finished(task_id, wait=30) == {"status": "SUCCESS", "result": total}
        log = logged(worker.log, *(f"sumflow.add[{t}] succeeded" for t in running))
        # It tried to reconnect every 2 s, not after pauses growing by 2 s (workflows.consumer).
        pauses = re.findall(r"Trying again in ([0-9.]+) seconds", log)
        assert pauses and {float(p) for p in pauses} == {2.0}, pauses
        for task_id in running:
            assert f"sumflow.add[{task_id}] RETRY" in log  # RunCancelled, stored once back
            assert log.count(f"sumflow.add[{task_id}] succeeded") == 1, log
        assert worker.process is not None and worker.process.poll() is None, log
        assert sums.finished(sums.submit(1, 1), wait=20) == {"status": "SUCCESS", "result": 2}
    finally:
        server.stop()


def test_a_run_acknowledged_after_its_channel_lost_redis_is_left_to_the_requeue(
    tmp_path: Path,
) -> None:
    """A run can end after its worker lost Redis: one the worker had not stopped yet, or one
    whose end it read only after reconnecting. Its acknowledgement then went to the closed
    channel, where kombu 5.7 raised AttributeError, which stopped the worker. The message
    stays where the close left it, noted for the requeue (`workflows.requeue`)."""
    server = RedisServer(data_dir=tmp_path / "redis").start()
    try:
        celery = create_celery(load_settings(redis_url=server.url))
        celery.send_task("sumflow.add", (1, 2), queue="default")
        connection = celery.connection_for_read()
        channel = connection.default_channel
        message = channel.basic_get("default", no_ack=False)
        assert message is not None

        # Redis goes away; the consumer closes its channel and its connection, as Celery's does.
        server.stop()
        with pytest.raises(channel.connection_errors):
            channel.close()
        ignore_errors(connection, connection.close)
        server.start()

        message.ack()  # the run's end, read after the reconnection

        assert message.delivery_tag in unrestored
        assert redis.Redis.from_url(server.url).hexists("unacked", message.delivery_tag)
    finally:
        unrestored.clear()
        server.stop()
