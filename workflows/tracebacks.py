"""A task's exception lets go of its traceback when the task ends, so failures cost no memory.

When a task fails, retries or is skipped, Celery 5.7's tracer keeps the exception in a local of
its own frame (``trace_task``), and the exception's traceback holds that frame: a reference
cycle, which only Python's cyclic garbage collector can free. It carries the frames' locals
and billiard's picklable copy of the traceback, which on Python 3.11 and later lists every
position of each frame's code: about 200 KB per failed add, and the collector gets to it only
at a full collection, after tens of thousands of new objects. Meanwhile a pool process grows,
and the allocator seldom gives the memory back: 400 failed adds took one from 53 to 130 MB,
and in a 15-minute soak of mixed work every pool process grew by about 2 MB a minute.
Celery's own fix (celery#8882) clears the frames it can, not its tracer's, which still runs.

At ``task_postrun`` the outcome is stored, logged and on its way to the worker (as billiard's
copy, which holds no frame), and nothing reads the real traceback again. Dropping it from the
exception, and from every exception chained to it, frees the frames at once.
"""

from __future__ import annotations

from typing import Any

from celery.signals import task_postrun

__all__ = ["drop_tracebacks"]


def drop_tracebacks(error: object) -> None:
    """Unlink the traceback of ``error`` (if an exception) and of every exception chained to
    it, as cause or context, so that their frames are freed with the last reference to them."""
    pending, seen = [error], set()
    while pending:
        exc = pending.pop()
        if not isinstance(exc, BaseException) or id(exc) in seen:
            continue
        seen.add(id(exc))
        exc.__traceback__ = None
        pending += [exc.__cause__, exc.__context__]


@task_postrun.connect
def _on_postrun(retval: Any = None, **_: Any) -> None:
    """A failed, retried or skipped task's ``retval`` is its exception; any other is left be."""
    drop_tracebacks(retval)
