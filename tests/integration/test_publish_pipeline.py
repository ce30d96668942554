"""A single add's issued marker travels in its publish's round trip, ahead of the message (and
with a gate, only if the gate lets the message through), and a submission that waits for its
result subscribes before it publishes.

On a Redis of this module's own with no worker, so every message stays queued where the test
can read it, and MONITOR shows the order in which Redis ran the commands.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import redis
from limits import parse_many

from api.rate_limit_counter import Count, FixedWindowCounter
from config import load_settings
from workflows import SumflowCelery, create_celery
from workflows.broker import written_with_publish
from workflows.registry import issued_key
from workflows.results import TaskView, submit_and_wait
from workflows.submit import TaskOptions, submit_add

pytestmark = pytest.mark.integration

QUEUE = "default"
STOP = "sumflow-test-monitor-stop"


@pytest.fixture
def celery(quiet_redis_url: str) -> Iterator[SumflowCelery]:
    app = create_celery(load_settings(redis_url=quiet_redis_url))
    yield app
    app.close()


@pytest.fixture
def store(quiet_redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(quiet_redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


def queued_ids(store: redis.Redis) -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in store.lrange(QUEUE, 0, -1)]


class Monitor:
    """The commands Redis runs while the block is open, in order (Redis's MONITOR)."""

    def __init__(self, url: str) -> None:
        self._monitor = redis.Redis.from_url(url, decode_responses=True).monitor()
        self.commands: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        while True:
            command = self._monitor.next_command()["command"]
            if command == f"ECHO {STOP}":
                return
            self.commands.append(command.split()[0].upper())

    def __enter__(self) -> Monitor:
        self._monitor.__enter__()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._monitor.connection_pool.get_connection().send_command("ECHO", STOP)
        self._thread.join(timeout=5)
        self._monitor.__exit__(*exc)


def test_submit_add_records_the_id_before_the_message(
    celery: SumflowCelery, store: redis.Redis, quiet_redis_url: str
) -> None:
    with Monitor(quiet_redis_url) as monitor:
        task_id = submit_add(celery, 2, 3, TaskOptions())

    assert store.get(issued_key(task_id)) == "add"
    ttl = store.ttl(issued_key(task_id))
    assert celery.conf.result_expires - 5 <= ttl <= celery.conf.result_expires
    assert queued_ids(store) == [task_id]
    writes = [c for c in monitor.commands if c in ("SET", "LPUSH")]
    assert writes == ["SET", "LPUSH"], monitor.commands


def test_commands_ride_only_inside_the_block(celery: SumflowCelery, store: redis.Redis) -> None:
    add = celery.tasks["sumflow.add"]
    with written_with_publish(("SET", "sumflow:test:inside", "1")):
        add.apply_async((1, 1), task_id="inside")
    add.apply_async((1, 1), task_id="after")

    assert store.get("sumflow:test:inside") == "1"
    assert queued_ids(store) == ["after", "inside"]  # LPUSH: newest first
    store.delete("sumflow:test:inside")
    add.apply_async((1, 1), task_id="later")
    assert store.get("sumflow:test:inside") is None


def test_a_batched_publish_still_sends_the_commands(
    celery: SumflowCelery, store: redis.Redis
) -> None:
    with celery.connection_for_write() as connection:
        producer = celery.amqp.Producer(connection)
        with written_with_publish(("SET", "sumflow:test:batched", "1")), producer.batch(10):
            celery.send_task("sumflow.add", (1, 2), task_id="batched", producer=producer)
            # The commands ran ahead; the message waits for its batch (all or none of it).
            assert store.get("sumflow:test:batched") == "1"
            assert queued_ids(store) == []

    assert queued_ids(store) == ["batched"]


class Refused(Exception):
    pass


def refuse_over_budget(counts: list[Count]) -> None:
    if not all(count.allowed for count in counts):
        raise Refused


def test_a_gate_runs_the_commands_only_with_the_message(
    celery: SumflowCelery, store: redis.Redis
) -> None:
    add = celery.tasks["sumflow.add"]
    counter = FixedWindowCounter(store, parse_many("1/minute"), "sumflow:test:limit")
    commands = (("SET", "sumflow:test:one", "1"), ("SET", "sumflow:test:two", "2", "EX", "60"))

    gate = counter.gate("client", 1_000_000.0, refuse_over_budget)
    with written_with_publish(*commands, gate=gate):
        add.apply_async((1, 1), task_id="let-through")
    assert queued_ids(store) == ["let-through"]
    assert store.mget("sumflow:test:one", "sumflow:test:two") == ["1", "2"]
    assert 0 < store.ttl("sumflow:test:two") <= 60

    store.delete("sumflow:test:one", "sumflow:test:two")
    gate = counter.gate("client", 1_000_000.0, refuse_over_budget)
    with pytest.raises(Refused), written_with_publish(*commands, gate=gate):
        add.apply_async((1, 1), task_id="refused")
    assert queued_ids(store) == ["let-through"]
    assert store.exists("sumflow:test:one", "sumflow:test:two") == 0


def test_a_gate_cannot_ride_a_batch(celery: SumflowCelery, store: redis.Redis) -> None:
    # Its script would push the message there and then, outside the batch's transaction.
    counter = FixedWindowCounter(store, parse_many("5/minute"), "sumflow:test:limit")
    gate = counter.gate("client", 1_000_000.0, refuse_over_budget)
    with celery.connection_for_write() as connection:
        producer = celery.amqp.Producer(connection)
        with (
            pytest.raises(ValueError, match="single message to a plain queue"),
            written_with_publish(gate=gate),
            producer.batch(10),
        ):
            celery.send_task("sumflow.add", (1, 2), task_id="gated", producer=producer)
    assert queued_ids(store) == []
    assert store.keys("sumflow:test:limit*") == []  # not counted either


def test_submit_and_wait_subscribes_before_the_task_is_queued(
    celery: SumflowCelery, store: redis.Redis, quiet_redis_url: str
) -> None:
    # No worker: the task stays queued, and the wait ends with one last read.
    client = redis.Redis.from_url(quiet_redis_url)
    with Monitor(quiet_redis_url) as monitor:
        view = submit_and_wait(
            client, "sub-first", 0.3, lambda: submit_add(celery, 1, 2, TaskOptions(), "sub-first")
        )

    assert view == TaskView("PENDING", None)
    assert queued_ids(store) == ["sub-first"]
    steps = [c for c in monitor.commands if c in ("SUBSCRIBE", "LPUSH", "MGET", "UNSUBSCRIBE")]
    # Subscribed first, the result's publish cannot be missed: no read until the wait is over.
    assert steps == ["SUBSCRIBE", "LPUSH", "MGET", "UNSUBSCRIBE"], monitor.commands
