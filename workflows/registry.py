"""Which task ids this service issued, and which it revoked, kept in Redis with a TTL.

Celery reports PENDING for any id it has never seen (celery#3596), so sumflow remembers the
ids it hands out to answer 404 for the rest. Revokes normally live only in worker memory;
keeping them in Redis (written by workflows.revocation) lets every worker honour them,
including one started later (see workflows.base_task).
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

__all__ = [
    "ISSUED_PREFIX",
    "REVOKED_KEY",
    "issued_key",
    "issued_marker",
    "mark_issued",
]

ISSUED_PREFIX = "sumflow:issued:"
REVOKED_KEY = "sumflow:revoked"


def issued_key(task_id: str) -> str:
    return ISSUED_PREFIX + task_id


def issued_marker(task_id: str, kind: str, ttl: int) -> tuple[str, ...]:
    """The Redis command that records one id as issued, for a caller that pipelines it.

    The value, ``kind`` (add, chain, group...), is for a person reading Redis: sumflow itself
    only asks whether the key exists."""
    return ("SET", issued_key(task_id), kind, "EX", str(ttl))


def mark_issued(client: redis.Redis, task_ids: Iterable[str], kind: str, ttl: int) -> None:
    """Record ids as issued by us for ``ttl`` seconds (one round trip for any number of ids).

    For one id the command goes straight to ``client``, so a caller may pass its own pipeline.
    """
    ids = list(task_ids)
    if len(ids) == 1:
        client.execute_command(*issued_marker(ids[0], kind, ttl))
        return
    with client.pipeline(transaction=False) as pipe:
        for task_id in ids:
            pipe.execute_command(*issued_marker(task_id, kind, ttl))
        pipe.execute()
