"""Revoking tasks so that the revoke outlives the workers that heard it.

`revoke` records the id in Redis, where every task checks it before it starts
(`workflows.base_task.SumflowTask.before_start`), and broadcasts to running workers (Celery's
own mechanism, which also terminates a running task on request).

A worker stores STARTED before it checks the revoked set. So the revoke reads the task's state
and records itself in one script: either the worker sees the revoke and skips the task, or
the revoke sees the task running. Read first and recorded after, a task that started in
between was marked REVOKED and ran on, and a chain went on past a step that read REVOKED.
"""

from __future__ import annotations

import time

import redis
from celery import Celery, states
from celery.exceptions import TaskRevokedError
from kombu.utils.encoding import bytes_to_str

from workflows.backend import STORED_STATE_LUA
from workflows.base_task import REVOKE_REASON
from workflows.registry import REVOKED_KEY

__all__ = ["revoke"]

#: Record a revoke unless the task has finished, or has started and is not to be stopped.
#: A task not started yet is stored REVOKED (and announced) in the same step. KEYS: the
#: task's result key, the revoked set. ARGV: the encoded REVOKED state, seconds to keep it,
#: the task id, now, 1 to stop a running task. The status that stopped it, or nil if revoked.
REVOKE_UNLESS_STARTED = (
    STORED_STATE_LUA
    + """
if done[status] or (status == 'STARTED' and ARGV[5] ~= '1') then
    return status
end
local now, ttl = tonumber(ARGV[4]), tonumber(ARGV[2])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('EXPIRE', KEYS[2], ttl)
if status == 'STARTED' then
    return status
end
store(ARGV[1], ttl)
return nil
"""
)


def revoke(celery: Celery, client: redis.Redis, task_id: str, *, terminate: bool) -> str | None:
    """Revoke ``task_id``; with ``terminate`` a running task is stopped with SIGTERM. None if
    revoked, else the status that stopped it: a finished one, or STARTED when the task runs
    and ``terminate`` was not asked for.

    A task not yet running is marked REVOKED at once, so clients see it even while no worker
    is up; a running one is marked by its worker when the pool process is terminated.
    """
    backend = celery.backend
    revoked = backend.encode_result(TaskRevokedError(REVOKE_REASON), states.REVOKED)
    stopped = client.eval(
        REVOKE_UNLESS_STARTED,
        2,
        bytes_to_str(backend.get_key_for_task(task_id)),
        REVOKED_KEY,
        backend.encoded_state(task_id, revoked, states.REVOKED),
        int(celery.conf.result_expires),
        task_id,
        time.time(),
        int(terminate),
    )
    status = None if stopped is None else bytes_to_str(stopped)
    if status is None or (status == states.STARTED and terminate):
        celery.control.revoke(task_id, terminate=terminate, signal="SIGTERM")
        return None
    return status
