"""Request and response schemas of the workflow resources: chains, groups and chords."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validates_schema
from marshmallow.validate import OneOf, Range

from api.batch_fields import NumberList, PairList
from api.fields import OPERAND_LIMIT, JSONInteger
from api.openapi_rules import from_settings
from api.schemas import TaskOptionsSchema
from api.services import services
from config import Settings
from workflows.chunking import tasks_needed
from workflows.groups import GROUP_STATES

__all__ = [
    "ChainAcceptedSchema",
    "ChainRequestSchema",
    "ChordAcceptedSchema",
    "ChordRequestSchema",
    "GroupAcceptedSchema",
    "GroupRequestSchema",
    "GroupStatusSchema",
]

_DEFAULTS = Settings()

#: One operand of a chain or a pair, as `api.schemas.operand` documents a and b.
_OPERAND = {"type": "number", "minimum": -OPERAND_LIMIT, "maximum": OPERAND_LIMIT}


def _settings() -> Settings:
    return services().settings


def _at_most_max_pairs(chunk_size: int) -> None:
    """The configured MAX_PAIRS, read per request: a larger chunk could never be filled."""
    limit = _settings().max_pairs
    if chunk_size > limit:
        raise ValidationError(f"Must be at most {limit} (MAX_PAIRS).")


def _id_list(description: str) -> fields.Raw:
    """A list of task ids, passed through as is (no per-item work on 10,000 ids)."""
    return fields.Raw(
        required=True,
        metadata={"type": "array", "items": {"type": "string"}, "description": description},
    )


class ChainRequestSchema(TaskOptionsSchema):
    """Numbers to add left to right as a Celery chain: ((n0 + n1) + n2) + ..."""

    numbers = NumberList(
        required=True,
        min_items=2,
        max_items=lambda: _settings().max_chain_numbers,
        limit_name="MAX_CHAIN_NUMBERS",
        metadata={
            "type": "array",
            "items": _OPERAND,
            "minItems": 2,
            "description": "At least 2 numbers, at most MAX_CHAIN_NUMBERS (default "
            f"{_DEFAULTS.max_chain_numbers:,}); each a finite JSON number in the operand range.",
            "example": [1, 2, 3, 4],
            **from_settings(lambda settings: {"maxItems": settings.max_chain_numbers}),
        },
    )


class GroupRequestSchema(TaskOptionsSchema):
    """Pairs to add in parallel; ``chunk_size`` sends many pairs per task."""

    pairs = PairList(
        required=True,
        min_items=1,
        max_items=lambda: _settings().max_pairs,
        limit_name="MAX_PAIRS",
        metadata={
            "type": "array",
            "items": {"type": "array", "items": _OPERAND, "minItems": 2, "maxItems": 2},
            "minItems": 1,
            "description": "At least 1 pair [a, b], at most MAX_PAIRS (default "
            f"{_DEFAULTS.max_pairs:,}). The body itself may be at most MAX_REQUEST_BYTES "
            f"(default {_DEFAULTS.max_request_bytes // 2**20} MiB), else 413.",
            "example": [[1, 2], [3, 4]],
            **from_settings(lambda settings: {"maxItems": settings.max_pairs}),
        },
    )
    chunk_size = JSONInteger(
        # null as well, as the 202 answers it when none was asked for: it means none.
        allow_none=True,
        validate=[Range(min=1), _at_most_max_pairs],
        metadata={
            "description": "Pairs per task (Celery chunks), at most MAX_PAIRS: each task adds "
            "its chunk of pairs in order and results still come back per pair. Without it "
            "(or with null) every pair is its own task, and a request may make at most "
            f"MAX_TASKS_PER_REQUEST (default {_DEFAULTS.max_tasks_per_request:,}) tasks. A "
            "chunk must be done within half the visibility timeout, so one that fills holds "
            "at most VISIBILITY_TIMEOUT_SECONDS / 2 / ADD_DELAY_SECONDS pairs (default "
            f"{int(_DEFAULTS.max_delay_seconds // _DEFAULTS.add_delay_seconds)}).",
            "example": 100,
            **from_settings(lambda settings: {"maximum": settings.max_pairs}),
        },
    )

    @validates_schema
    def _check_task_count(self, data: dict[str, Any], **_: Any) -> None:
        limit = _settings().max_tasks_per_request
        pairs, chunk_size = data.get("pairs"), data.get("chunk_size")
        if pairs is None:
            return
        tasks = tasks_needed(len(pairs), chunk_size)
        if tasks <= limit:
            return
        how = "without chunk_size" if chunk_size is None else f"in chunks of {chunk_size}"
        smallest = -(-len(pairs) // limit)
        raise ValidationError(
            f"{len(pairs)} pairs {how} make {tasks} tasks; at most {limit} per request "
            f"(MAX_TASKS_PER_REQUEST): use a chunk_size of at least {smallest}.",
            "chunk_size",
        )

    @validates_schema
    def _check_chunk_time(self, data: dict[str, Any], **_: Any) -> None:
        """A chunk is one message, unacknowledged until its last add is done. On Redis one
        held past the visibility timeout is delivered again while it still runs (celery#4400),
        and a reserved message may wait a whole chunk before it starts: so, as for countdowns,
        a chunk must take at most half the timeout."""
        settings = _settings()
        pairs, chunk_size = data.get("pairs"), data.get("chunk_size")
        if pairs is None or chunk_size is None or settings.add_delay_seconds <= 0:
            return
        limit = settings.max_delay_seconds
        largest = min(chunk_size, len(pairs))
        if largest * settings.add_delay_seconds <= limit:
            return
        most = int(limit // settings.add_delay_seconds)
        raise ValidationError(
            f"Must be at most {most}: a chunk of {largest} adds takes "
            f"{largest * settings.add_delay_seconds:g} s (ADD_DELAY_SECONDS "
            f"{settings.add_delay_seconds:g}), and a chunk must finish within {limit:g} s "
            "(half the broker's visibility timeout).",
            "chunk_size",
        )


class ChordRequestSchema(GroupRequestSchema):
    """A group of adds whose callback totals every sum."""


class ChainAcceptedSchema(Schema):
    task_id = fields.String(
        required=True,
        metadata={"description": "The last step: GET /result/<task_id> gives the total."},
    )
    task_ids = _id_list("Every step's task id, in order (the first adds n0 + n1).")


def _group_id() -> fields.String:
    return fields.String(
        required=True, metadata={"description": "GET /groups/<group_id> for progress."}
    )


def _member_ids() -> fields.Raw:
    return _id_list(
        "The group's task ids in request order: one per pair, or with chunk_size one per "
        "chunk (chunk i holds pairs i*chunk_size up to (i+1)*chunk_size - 1, and its "
        "GET /result is the list of their sums)."
    )


def _chunk_size() -> fields.Integer:
    return fields.Integer(allow_none=True, metadata={"description": "As requested."})


class GroupAcceptedSchema(Schema):
    group_id = _group_id()
    task_ids = _member_ids()
    chunk_size = _chunk_size()


class ChordAcceptedSchema(Schema):
    task_id = fields.String(
        required=True,
        metadata={"description": "The callback: GET /result/<task_id> gives the total."},
    )
    group_id = _group_id()
    task_ids = _member_ids()
    chunk_size = _chunk_size()


class GroupErrorSchema(Schema):
    task_id = fields.String(required=True, metadata={"description": "The member that failed."})
    index = fields.Integer(required=True, metadata={"description": "Its first pair's index."})
    count = fields.Integer(required=True, metadata={"description": "Pairs it held."})
    message = fields.String(required=True)


class GroupStatusSchema(Schema):
    group_id = fields.String(required=True)
    status = fields.String(
        required=True,
        validate=OneOf(GROUP_STATES),
        metadata={
            "enum": list(GROUP_STATES),
            "description": "PENDING: no member has started. STARTED: work under way (some "
            "members may be done, failed or retrying). When every member has finished: "
            "SUCCESS if every pair succeeded, PARTIAL if some failed, FAILURE if all failed "
            "(a revoked member counts as failed).",
        },
    )
    total = fields.Integer(required=True, metadata={"description": "Pairs in the group."})
    completed = fields.Integer(required=True, metadata={"description": "Pairs added."})
    failed = fields.Integer(
        required=True, metadata={"description": "Pairs whose task failed or was revoked."}
    )
    chunk_size = fields.Integer(allow_none=True)
    results = fields.Raw(
        required=True,
        metadata={
            "type": "array",
            "items": {"type": "number", "nullable": True},
            "description": "One entry per pair, in request order: its sum, or null until "
            "it is done (and for ever if its task failed: see errors).",
        },
    )
    errors = fields.List(
        fields.Nested(GroupErrorSchema),
        required=True,
        metadata={"description": "One entry per failed task, in request order."},
    )
