"""The mended prefork pool: a worker reconnecting just after it stopped a run stays up."""

from __future__ import annotations

import os
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from celery.concurrency import asynpool
from kombu.asynchronous import Hub

from config import load_settings
from config.celery_config import celery_config
from workflows.prefork import AsynPool

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


def test_prefork_workers_use_the_mended_pool() -> None:
    assert celery_config(load_settings({}))["worker_pool"] == "workflows.prefork:TaskPool"
    threads = load_settings({"WORKER_POOL": "threads"})
    assert celery_config(threads)["worker_pool"] == "threads"
