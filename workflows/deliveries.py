"""A cap on redeliveries: Redis keeps no delivery count and has no dead-letter queue.

A message whose task kills its pool process every time (a segfault, the OOM killer) is
requeued by ``task_reject_on_worker_lost`` and would run, and kill, forever. kombu flags every
message it puts back (``delivery_info["redelivered"]``), so only redeliveries are counted, in
one Redis key per task id: a first delivery, nearly every delivery, costs nothing.
"""

from __future__ import annotations

import redis

__all__ = ["DELIVERIES_PREFIX", "DeliveriesExhausted", "count_delivery", "deliveries_key"]

DELIVERIES_PREFIX = "sumflow:deliveries:"


class DeliveriesExhausted(Exception):
    """A message was delivered more often than MAX_DELIVERIES without ever finishing."""


def deliveries_key(task_id: str) -> str:
    return DELIVERIES_PREFIX + task_id


def count_delivery(client: redis.Redis, task_id: str, ttl: int) -> int:
    """Count one redelivery of ``task_id``; return its deliveries so far, the first included."""
    key = deliveries_key(task_id)
    with client.pipeline(transaction=False) as pipe:
        pipe.incr(key)
        pipe.expire(key, ttl)
        redeliveries, _ = pipe.execute()
    return int(redeliveries) + 1
