"""Test-only tasks that show what a pool process leaves to the cyclic garbage collector,
loaded by workers started with ``include=(MEMORY_TASKS,)``."""

from __future__ import annotations

import gc
from collections import Counter

from celery import shared_task

__all__ = ["COUNT_GARBAGE", "HOLD_GARBAGE", "MEMORY_TASKS"]

MEMORY_TASKS = __name__
HOLD_GARBAGE = "tests.hold_garbage"
COUNT_GARBAGE = "tests.count_garbage"


@shared_task(name=HOLD_GARBAGE)
def hold_garbage() -> None:
    """Collect, then stop automatic collection in this process: from now on what the tasks
    leave in reference cycles stays, for `count_garbage` to find, whenever the collector
    would have run."""
    gc.collect()
    gc.disable()


@shared_task(name=COUNT_GARBAGE)
def count_garbage() -> dict[str, int]:
    """The objects only the cyclic collector could free since `hold_garbage`, counted by
    type; automatic collection resumes."""
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        return dict(Counter(type(thing).__name__ for thing in gc.garbage))
    finally:
        gc.garbage.clear()
        gc.set_debug(0)
        gc.enable()
