"""The mended prefork pool: a worker reconnecting just after it stopped a run stays up, and a
pool process that dies is reaped at once, not at the pool's next periodic check."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from celery.concurrency import asynpool
from kombu.asynchronous import Hub

from config import load_settings
from config.celery_config import celery_config
from workflows.prefork import REAP_RETRY_SECONDS, AsynPool

#: A pool process that has exited and whose exit Celery has handled (not yet reaped).
EXITED = SimpleNamespace(_sentinel_poll=None)


@pytest.fixture
def hub() -> Iterator[Hub]:
    loop = Hub()
    yield loop
    loop.close()


def test_stock_prefork_stops_the_worker_on_an_exited_process(hub: Hub) -> None:
    """The failure mended here, as Celery 5.7 and kombu 5.7 have it."""
    with pytest.raises(ValueError, match="file descriptor is None"):
        asynpool.AsynPool._track_child_process(object.__new__(asynpool.AsynPool), EXITED, hub)


def test_an_exited_process_is_skipped_and_a_live_one_is_watched(hub: Hub) -> None:
    read_end, write_end = os.pipe()
    try:
        pool = object.__new__(AsynPool)
        pool._track_child_process(EXITED, hub)
        pool._track_child_process(SimpleNamespace(_sentinel_poll=read_end), hub)
        assert list(hub.readers) == [read_end]
    finally:
        os.close(read_end)
        os.close(write_end)


def run_timers(hub: Hub) -> None:
    """Fire the hub's timers as the worker's event loop would, until none is left."""
    while len(hub.timer):
        time.sleep(hub.fire_timers(min_delay=0.001, max_delay=0.05))


def test_a_process_not_yet_reapable_is_looked_at_again_until_it_is_reaped(hub: Hub) -> None:
    """Its sentinel fired while it was still exiting: the pool looks again, soon, until the
    look that reaps it (the third here), and then stops looking."""
    proc = SimpleNamespace()
    pool = object.__new__(AsynPool)
    pool._pool = [proc]
    looks = 0

    def maintain_pool() -> None:  # Celery's reaps the processes that have exited
        nonlocal looks
        looks += 1
        if looks == 3:
            pool._pool.remove(proc)

    pool.maintain_pool = maintain_pool  # type: ignore[method-assign]
    pool._reap_soon(hub, proc, REAP_RETRY_SECONDS)
    run_timers(hub)
    assert looks == 3
    assert proc not in pool._pool


def test_a_reaped_process_is_not_looked_at_again(hub: Hub) -> None:
    pool = object.__new__(AsynPool)
    pool._pool = []
    pool._reap_soon(hub, SimpleNamespace(), REAP_RETRY_SECONDS)
    assert len(hub.timer) == 0


def test_prefork_workers_use_the_mended_pool() -> None:
    assert celery_config(load_settings({}))["worker_pool"] == "workflows.prefork:TaskPool"
    threads = load_settings({"WORKER_POOL": "threads"})
    assert celery_config(threads)["worker_pool"] == "threads"
