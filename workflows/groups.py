"""Group membership kept in Redis, and a group's progress read back in one round trip.

Celery's ``GroupResult.save()``/``restore()`` is discouraged upstream (celery#2202), and a
group's members are all we need: their ids in request order, and how many pairs each holds
(one, or a chunk). The record lives as long as the results it points at; reading a group is
a GET of the record and one MGET of every member's ``celery-task-meta-<id>`` key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis
from celery import states

from workflows.chunking import chunk_spans
from workflows.results import present, read_metas

__all__ = [
    "GROUP_PREFIX",
    "GROUP_STATES",
    "GroupRecord",
    "GroupView",
    "group_key",
    "load_group",
    "read_group",
    "save_group",
    "summarize",
]

GROUP_PREFIX = "sumflow:group:"

#: A group's status: nothing started yet; some work under way; all done, and then whether
#: every pair succeeded, some did, or none did.
PENDING, STARTED, SUCCESS, PARTIAL, FAILURE = "PENDING", "STARTED", "SUCCESS", "PARTIAL", "FAILURE"
GROUP_STATES = (PENDING, STARTED, SUCCESS, PARTIAL, FAILURE)


def group_key(group_id: str) -> str:
    return GROUP_PREFIX + group_id


@dataclass(frozen=True, slots=True)
class GroupRecord:
    """Who is in a group: task ids in request order; with ``chunk_size`` each holds a chunk."""

    task_ids: Sequence[str]
    total: int
    chunk_size: int | None = None
    kind: str = "group"

    def spans(self) -> list[tuple[int, int]]:
        return chunk_spans(self.total, self.chunk_size)

    def encode(self) -> str:
        return json.dumps(
            {
                "kind": self.kind,
                "total": self.total,
                "chunk_size": self.chunk_size,
                "task_ids": list(self.task_ids),
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, raw: bytes | str) -> GroupRecord:
        data = json.loads(raw)
        return cls(
            data["task_ids"], data["total"], data.get("chunk_size"), data.get("kind", "group")
        )


@dataclass(frozen=True, slots=True)
class TaskError:
    """A failed member: which pairs it held and why it failed."""

    task_id: str
    index: int
    count: int
    message: str


@dataclass(frozen=True, slots=True)
class GroupView:
    """What a client sees of a group: per-pair results in request order, and the counts."""

    status: str
    total: int
    completed: int
    failed: int
    results: list[Any]
    errors: list[TaskError] = field(default_factory=list)
    chunk_size: int | None = None


def save_group(client: redis.Redis, group_id: str, record: GroupRecord, ttl: int) -> None:
    client.set(group_key(group_id), record.encode(), ex=ttl)


def load_group(client: redis.Redis, group_id: str) -> GroupRecord | None:
    raw = client.get(group_key(group_id))
    return None if raw is None else GroupRecord.decode(raw)


def read_group(client: redis.Redis, group_id: str) -> GroupView | None:
    """The group's view, or None if no such group was recorded (or it has expired)."""
    record = load_group(client, group_id)
    if record is None:
        return None
    return summarize(record, read_metas(client, record.task_ids))


def _chunk_values(value: Any, count: int, chunked: bool) -> list[Any] | None:
    """A member's stored result as the list of per-pair sums, or None if it is malformed."""
    if not chunked:
        return [value]
    if isinstance(value, list) and len(value) == count:
        return value
    return None


def summarize(record: GroupRecord, metas: Sequence[dict[str, Any] | None]) -> GroupView:
    """Assemble the group's view from its members' result records, in member order."""
    results: list[Any] = [None] * record.total
    errors: list[TaskError] = []
    completed = failed = 0
    started = False
    chunked = record.chunk_size is not None
    for task_id, (start, stop), meta in zip(record.task_ids, record.spans(), metas, strict=True):
        view = present(meta)
        count = stop - start
        if view.status == states.SUCCESS:
            values = _chunk_values(view.result, count, chunked)
            if values is not None:
                results[start:stop] = values
                completed += count
                continue
            message = f"unexpected result for {count} pairs: {view.result!r}"[:200]
            errors.append(TaskError(task_id, start, count, message))
            failed += count
        elif view.status in states.READY_STATES:  # FAILURE or REVOKED
            errors.append(TaskError(task_id, start, count, str(view.result)))
            failed += count
        elif view.status != states.PENDING:  # STARTED or RETRY
            started = True
    return GroupView(
        _status(record.total, completed, failed, started),
        record.total,
        completed,
        failed,
        results,
        errors,
        record.chunk_size,
    )


def _status(total: int, completed: int, failed: int, started: bool) -> str:
    if completed + failed == total:
        if failed == 0:
            return SUCCESS
        return FAILURE if completed == 0 else PARTIAL
    return STARTED if started or completed or failed else PENDING
