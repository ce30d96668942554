"""Chains, groups and chords of adds, sent the way Celery's canvas sends them, in one go.

Every id is chosen here before anything is sent, recorded as issued (one pipelined round
trip), and group membership is stored, all before the first message is published: a client
never holds an id that answers 404. A group's or chord's members are queued all together or
not at all: a client told that publishing failed has nothing half-sent to run twice when it
sends the request again. (As for a single add, a connection that breaks after Redis ran the
publish and before its reply arrived reports a failure for work that was queued.)

Chains are Celery chains. Group and chord members are published here, in one transaction
over one producer, with exactly the message options Celery 5.7's ``group.apply_async`` and
``chord.apply_async`` give them (``group_id``, ``group_index``, and for a chord its callback
in ``chord`` plus the chord size in the backend). What is left out is the in-process
``GroupResult`` those calls build: its barrier SUBSCRIBEs to every member's result channel,
and for a chord keeps the subscriptions and the result objects for ever, which in a web
process is a leak and a pub/sub connection whose unread messages pile up in Redis. sumflow
reads results from Redis instead (`workflows.groups`).

Nothing here knows about HTTP; limits on sizes are the API's job.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from celery import Signature, chain, uuid
from kombu import Producer
from kombu.exceptions import BatchPublishError, OperationalError

from workflows.arithmetic import Number
from workflows.canvas_tasks import ADD_MANY_TASK, SUM_ALL_TASK
from workflows.celery_app import SumflowCelery
from workflows.chunking import split, tasks_needed
from workflows.groups import GroupRecord, save_group
from workflows.registry import mark_issued
from workflows.submit import TaskOptions
from workflows.tasks import ADD_TASK

__all__ = [
    "ChainHandle",
    "ChordHandle",
    "GroupHandle",
    "build_chain",
    "member_arguments",
    "submit_chain",
    "submit_chord",
    "submit_group",
]

#: One pair of operands, ``[a, b]``.
Pair = Sequence[Number]


@dataclass(frozen=True, slots=True)
class ChainHandle:
    task_id: str
    task_ids: list[str]


@dataclass(frozen=True, slots=True)
class GroupHandle:
    group_id: str
    task_ids: list[str]
    chunk_size: int | None


@dataclass(frozen=True, slots=True)
class ChordHandle:
    task_id: str
    group_id: str
    task_ids: list[str]
    chunk_size: int | None


def build_chain(
    celery: SumflowCelery, numbers: Sequence[Number], options: TaskOptions, task_ids: list[str]
) -> chain:
    """``((n0 + n1) + n2) + ...``: the first step adds two numbers, each later step adds the
    previous sum (its first argument, passed by Celery) and one more number."""
    add = celery.tasks[ADD_TASK]
    kwargs = options.task_kwargs()
    publish = options.publish_options()
    steps = [add.signature((numbers[0], numbers[1]), kwargs, task_id=task_ids[0], **publish)]
    steps += [
        add.signature((number,), kwargs, task_id=task_id, **publish)
        for number, task_id in zip(numbers[2:], task_ids[1:], strict=True)
    ]
    return chain(*steps, app=celery)


def member_arguments(pairs: Sequence[Pair], chunk_size: int | None) -> tuple[str, list[tuple]]:
    """The task and the positional arguments of each member: ``sumflow.add(a, b)`` per pair,
    or ``sumflow.add_many([[a, b], ...])`` per chunk of ``chunk_size`` pairs."""
    if chunk_size is None:
        return ADD_TASK, [tuple(pair) for pair in pairs]
    return ADD_MANY_TASK, [([list(pair) for pair in chunk],) for chunk in split(pairs, chunk_size)]


@contextmanager
def _batch_producer(celery: SumflowCelery) -> Iterator[Producer]:
    """A producer whose messages go out together, in one MULTI/EXEC round trip at the end.

    The transaction is `workflows.broker`'s: Redis runs none of the pushes until it has them
    all. kombu 5.7's ``Producer.batch`` only pipelines on a connection that does not retry a
    timed-out command (a replayed pipeline could publish twice); otherwise it quietly sends
    each message on its own. sumflow's broker options set no such retry (config.celery_config),
    and a configuration that did would be refused here rather than lose the guarantee. Against
    one LPUSH round trip per message this makes a 10,000-member group ~3x faster to send. A
    failed batch is reported as kombu's OperationalError, like any failure to publish (the API
    answers 503).
    """
    with celery.producer_or_acquire() as producer:
        if not producer.channel.supports_batch_publish:
            raise RuntimeError(
                "the broker connection retries timed-out commands (retry_on_timeout), so kombu "
                "would publish a group's members one by one, not all or none: remove that option"
            )
        try:
            # Never flushed early: one flush is one transaction, the whole group.
            with producer.batch(max_size=sys.maxsize):
                yield producer
        except BatchPublishError as exc:
            raise OperationalError(f"publishing a group failed: {exc}") from exc


def _publish_members(
    celery: SumflowCelery,
    pairs: Sequence[Pair],
    options: TaskOptions,
    chunk_size: int | None,
    group_id: str,
    task_ids: list[str],
    chord: Signature | None = None,
) -> None:
    """Send every member over one producer, as ``group.apply_async`` would (see module)."""
    name, arguments = member_arguments(pairs, chunk_size)
    kwargs = options.task_kwargs()
    publish = options.publish_options()
    with _batch_producer(celery) as producer:
        for index, (args, task_id) in enumerate(zip(arguments, task_ids, strict=True)):
            celery.send_task(
                name,
                args,
                kwargs,
                task_id=task_id,
                group_id=group_id,
                group_index=index,
                chord=chord,
                producer=producer,
                add_to_parent=False,
                **publish,
            )


def submit_chain(
    celery: SumflowCelery, client: redis.Redis, numbers: Sequence[Number], options: TaskOptions
) -> ChainHandle:
    """Queue the chain; its last step's id reports the total (or why the chain broke)."""
    task_ids = [uuid() for _ in range(len(numbers) - 1)]
    mark_issued(client, task_ids, "chain", celery.conf.result_expires)
    build_chain(celery, numbers, options, task_ids).apply_async()
    return ChainHandle(task_ids[-1], task_ids)


def submit_group(
    celery: SumflowCelery,
    client: redis.Redis,
    pairs: Sequence[Pair],
    options: TaskOptions,
    chunk_size: int | None = None,
) -> GroupHandle:
    """Queue every pair (or chunk) as one group."""
    group_id = uuid()
    task_ids = [uuid() for _ in range(tasks_needed(len(pairs), chunk_size))]
    ttl = celery.conf.result_expires
    mark_issued(client, task_ids, "add" if chunk_size is None else "add_many", ttl)
    save_group(client, group_id, GroupRecord(task_ids, len(pairs), chunk_size), ttl)
    _publish_members(celery, pairs, options, chunk_size, group_id, task_ids)
    return GroupHandle(group_id, task_ids, chunk_size)


def submit_chord(
    celery: SumflowCelery,
    client: redis.Redis,
    pairs: Sequence[Pair],
    options: TaskOptions,
    chunk_size: int | None = None,
) -> ChordHandle:
    """Queue a group of adds whose callback (``sumflow.sum_all``) totals every sum.

    The callback goes to the request's queue when one is given, else where ``task_routes``
    sends ``sumflow.*``. Celery's Redis backend counts members as they finish (whatever
    their outcome) and, with the last one, sends the callback, or marks it FAILURE with a
    ``ChordError`` naming a failed member.
    """
    group_id, callback_id = uuid(), uuid()
    task_ids = [uuid() for _ in range(tasks_needed(len(pairs), chunk_size))]
    ttl = celery.conf.result_expires
    mark_issued(client, [*task_ids, callback_id], "chord", ttl)
    save_group(client, group_id, GroupRecord(task_ids, len(pairs), chunk_size, "chord"), ttl)
    routing: dict[str, Any] = {"queue": options.queue} if options.queue else {}
    body = celery.tasks[SUM_ALL_TASK].signature((), {}, task_id=callback_id, **routing)
    body.freeze(callback_id, group_id=group_id)  # as chord.run does
    celery.backend.set_chord_size(group_id, len(task_ids))
    _publish_members(celery, pairs, options, chunk_size, group_id, task_ids, chord=body)
    return ChordHandle(callback_id, group_id, task_ids, chunk_size)
