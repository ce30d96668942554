"""Request and response schemas shared by the resources: operands, task options, task views."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validates_schema
from marshmallow.validate import Length, Range

from api.fields import (
    OPERAND_LIMIT,
    OPERAND_OUT_OF_RANGE,
    DecimalQueryNumber,
    JSONBoolean,
    JSONInteger,
    JSONNumber,
    Operand,
)
from api.openapi_rules import from_settings
from api.services import services
from config import RetryPolicy, Settings
from workflows.retry import UnknownRetryPolicy, resolve_policy
from workflows.submit import TaskOptions

__all__ = [
    "MAX_FAIL_TIMES",
    "MAX_WAIT_SECONDS",
    "AddRequestSchema",
    "INLINE_POLICY",
    "InlineRetryPolicySchema",
    "RetryPolicyField",
    "RetryPolicySchema",
    "RevokeAcceptedSchema",
    "RevokeQuerySchema",
    "TaskAcceptedSchema",
    "TaskDoneSchema",
    "TaskOptionsSchema",
    "TaskResultSchema",
    "WaitQuerySchema",
    "operand",
]

#: Upper bound of a retry policy's first delay. A countdown and a policy's backoff_max are
#: bounded by the settings instead (half the visibility timeout), checked at load time.
MAX_FIRST_BACKOFF = 3600
#: Most retries a policy may ask for.
MAX_RETRIES = 20
MAX_FAIL_TIMES = 50


#: Where the document describes a policy sent inline (`InlineRetryPolicySchema`).
INLINE_POLICY = {"$ref": "#/components/schemas/InlineRetryPolicy"}


def _max_delay(settings: Settings) -> dict[str, Any]:
    return {"maximum": settings.max_delay_seconds}


def _within_max_delay(seconds: float) -> None:
    """Countdowns and retry delays stay under half the visibility timeout: on Redis a longer
    one is delivered twice (celery#4400)."""
    limit = services().settings.max_delay_seconds
    if seconds > limit:
        raise ValidationError(
            f"Must be at most {limit:g} s (half the broker's visibility timeout)."
        )


def operand(description: str, **kwargs: Any) -> Operand:
    return Operand(
        validate=Range(-OPERAND_LIMIT, OPERAND_LIMIT, error=OPERAND_OUT_OF_RANGE),
        metadata={"description": description, "example": 5},
        **kwargs,
    )


class RetryPolicySchema(Schema):
    """A retry policy: first delay ``backoff`` s, doubling each retry up to ``backoff_max``."""

    max_retries = JSONInteger(
        required=True,
        validate=Range(0, MAX_RETRIES),
        metadata={"description": "Retries after the first try."},
    )
    backoff = JSONNumber(
        required=True,
        validate=Range(0, MAX_FIRST_BACKOFF),
        metadata={"description": "First retry delay in seconds; doubles with each retry."},
    )
    backoff_max = JSONNumber(
        required=True,
        validate=Range(min=0),
        metadata={"description": "Cap on any one retry delay, in seconds."},
    )
    jitter = JSONBoolean(
        required=True,
        metadata={"description": "Draw each delay from [delay/2, delay] to spread retries out."},
    )


class InlineRetryPolicySchema(RetryPolicySchema):
    """A retry policy sent in a request, whose delays these settings bound. Named and stored
    policies are shown as they are (`RetryPolicySchema`): "patient" may exceed the bound (its
    delays are capped when it runs), and a schedule keeps what older settings allowed."""

    backoff_max = JSONNumber(
        required=True,
        validate=[Range(min=0), _within_max_delay],
        metadata={
            "description": "Cap on any one retry delay, in seconds; at most half the "
            "visibility timeout.",
            **from_settings(_max_delay),
        },
    )


class RetryPolicyField(fields.Field):
    """A policy name (see GET /retry-policies) or an inline policy object."""

    default_error_messages = {"invalid": "Must be a policy name or a retry policy object."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            return InlineRetryPolicySchema().load(value)
        raise self.make_error("invalid")


class TaskOptionsSchema(Schema):
    """Options for every add a request runs: queue, retry policy, simulated failures."""

    # Every request body's schema derives from this one: a body that is a list, a number or
    # null is told what it should be, not marshmallow's "Invalid input type."
    error_messages = {"type": "Must be a JSON object."}

    queue = fields.String(
        validate=Length(1, 200),
        metadata={
            "description": "A configured queue (GET /queues); default: DEFAULT_QUEUE, where "
            "the routing rules send every add.",
            **from_settings(lambda settings: {"enum": list(settings.queues)}),
        },
    )
    retry_policy = RetryPolicyField(
        metadata={
            "description": "A policy name from GET /retry-policies, or an inline policy.",
            **from_settings(
                lambda settings: {
                    "oneOf": [
                        {"type": "string", "enum": list(settings.retry_policies)},
                        INLINE_POLICY,
                    ]
                }
            ),
        }
    )
    fail_times = JSONInteger(
        load_default=0,
        validate=Range(0, MAX_FAIL_TIMES),
        metadata={"description": "The first k attempts of each add fail, to watch retries."},
    )

    @validates_schema
    def _check_against_settings(self, data: dict[str, Any], **_: Any) -> None:
        settings = services().settings
        errors: dict[str, Any] = {}
        queue = data.get("queue")
        if queue is not None and queue not in settings.queues:
            errors["queue"] = [
                f"Unknown queue {queue!r}; configured queues: {', '.join(settings.queues)}."
            ]
        spec = data.get("retry_policy")
        if isinstance(spec, str) and spec not in settings.retry_policies:
            names = ", ".join(settings.retry_policies)
            errors["retry_policy"] = [f"Unknown retry policy {spec!r}; named policies: {names}."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _resolve(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        spec = data.pop("retry_policy", None)
        policy: RetryPolicy | None = None
        if spec is not None:
            try:
                policy = resolve_policy(services().settings, spec)
            except UnknownRetryPolicy:  # pragma: no cover - validated above
                raise ValidationError("Unknown retry policy.", "retry_policy") from None
        data["options"] = TaskOptions(
            queue=data.pop("queue", None),
            retry_policy=policy,
            fail_times=data.pop("fail_times", 0),
        )
        return data


class AddRequestSchema(TaskOptionsSchema):
    """Two operands to add: the study guide's body, plus optional task options."""

    a = operand("First operand.", required=True)
    b = operand("Second operand.", required=True)
    countdown = JSONNumber(
        validate=[Range(min=0), _within_max_delay],
        metadata={
            "description": "Seconds to wait before running; at most half the visibility timeout.",
            **from_settings(_max_delay),
        },
    )

    @post_load
    def _resolve(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """TaskOptionsSchema's hook, plus the countdown only a single add takes. (Overridden,
        not a second hook: marshmallow runs hooks in name order, not base class first.)"""
        countdown = data.pop("countdown", None)
        data = super()._resolve(data, **kwargs)
        data["options"] = replace(data["options"], countdown=countdown)
        return data


class TaskAcceptedSchema(Schema):
    task_id = fields.String(required=True, metadata={"description": "Poll GET /result/<task_id>."})


class TaskResultSchema(Schema):
    status = fields.String(
        required=True,
        metadata={"enum": ["PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED"]},
    )
    result = fields.Raw(
        required=True,
        allow_none=True,
        metadata={"description": "null while pending, the sum on SUCCESS, else an error message."},
    )


class TaskDoneSchema(TaskResultSchema, TaskAcceptedSchema):
    """A submission answered with its outcome: the task finished within ``Prefer: wait``."""


#: The longest a request may be held for a result (``?wait=``, ``Prefer: wait``): long enough
#: for a 3 s add with a queue ahead of it, short of common proxy timeouts (60 s).
MAX_WAIT_SECONDS = 30


class WaitQuerySchema(Schema):
    wait = DecimalQueryNumber(
        load_default=0,
        validate=Range(0, MAX_WAIT_SECONDS),
        metadata={
            "description": "Hold the request up to this many seconds for the result, written "
            "in ASCII digits (`10`, `0.5`, `1e-3`). When the server already holds as many "
            "waits as it allows, it answers at once with `Retry-After: 1`."
        },
    )


class RevokeQuerySchema(Schema):
    terminate = fields.Boolean(
        load_default=False,
        metadata={"description": "Also stop the task if it is already running (SIGTERM)."},
    )


class RevokeAcceptedSchema(Schema):
    task_id = fields.String(required=True)
    terminate = fields.Boolean(required=True)
