"""Recurring adds: create, list, read, change and delete schedules, and read their runs.

The schedules live in Redis as RedBeat entries (`schedules.store`); the beat
(``celery -A workflows beat -S redbeat.RedBeatScheduler``) runs them, and records each run.
"""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn

from flask import current_app, url_for
from flask.blueprints import BlueprintSetupState
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, post_load, validates_schema
from marshmallow.validate import Length, Range

from api.blueprint import Blueprint
from api.errors import abort
from api.fields import IntegerQueryNumber, JSONBoolean, JSONInteger, JSONNumber
from api.openapi import LOCATION
from api.openapi_rules import from_settings
from api.schemas import (
    INLINE_POLICY,
    MAX_FAIL_TIMES,
    RetryPolicyField,
    RetryPolicySchema,
    TaskOptionsSchema,
    operand,
)
from api.services import EXTENSION_KEY, services
from schedules import (
    NAME_PATTERN,
    Cron,
    Every,
    InvalidName,
    InvalidTiming,
    ScheduleBusy,
    ScheduleExists,
    ScheduleNotFound,
    ScheduleSpec,
    ScheduleStore,
    ScheduleView,
    Timing,
    TooManySchedules,
    check_name,
)
from schedules.model import MAX_EXPIRES_AFTER_SECONDS, MIN_EXPIRES_AFTER_SECONDS
from schedules.timing import (
    MAX_CRON_LENGTH,
    MAX_EVERY_SECONDS,
    MIN_EVERY_SECONDS,
    normalized_cron,
    parse_cron,
)
from workflows.redis_client import create_redis
from workflows.retry import resolve_policy

blp = Blueprint(
    "schedules", __name__, description="Recurring adds, run by the RedBeat beat, and their runs."
)

STORE_KEY = "sumflow.schedules"


@blp.record_once
def _create_store(state: BlueprintSetupState) -> None:
    """One ScheduleStore per app, on its own str-decoding Redis pool (RedBeat's format)."""
    svc = state.app.extensions[EXTENSION_KEY]
    client = create_redis(svc.settings, decode_responses=True)
    state.app.extensions[STORE_KEY] = ScheduleStore.for_app(svc.celery, client)


def _store() -> ScheduleStore:
    return current_app.extensions[STORE_KEY]


# --- schemas ---------------------------------------------------------------------------------


def _check_cron(value: str) -> None:
    try:
        parse_cron(value)
    except InvalidTiming as exc:
        raise ValidationError(str(exc)) from None


#: The two ways a schedule can be timed; it has exactly one.
TIMINGS = ("every", "crontab")


def _timings_given(data: dict[str, Any]) -> list[str]:
    """The timings a body sets: null for one says the schedule is not timed that way."""
    return [key for key in TIMINGS if data.get(key) is not None]


#: A timing a body gives, for the document: present and not null (a schema without
#: ``nullable`` refuses null in OpenAPI 3.0), as `_timings_given` counts it.
_GIVEN: dict[str, dict[str, Any]] = {
    "every": {"required": ["every"], "properties": {"every": {"type": "number"}}},
    "crontab": {"required": ["crontab"], "properties": {"crontab": {"type": "string"}}},
}

#: A timing a body clears: present, and so null where it is not given.
_CLEARED: dict[str, dict[str, Any]] = {
    key: {"required": [key], "not": given} for key, given in _GIVEN.items()
}


class ScheduleFieldsSchema(TaskOptionsSchema):
    """The fields a schedule is made of; every one optional (see the two subclasses).

    null is taken where it is a field's default, what a schedule created without the field
    has, and means that: no interval or no cron string, DEFAULT_QUEUE, the default policy, no
    expiry. A GET shows those nulls, so what it shows can be sent back. In a POST, null is
    the same as leaving the field out; in a PATCH, leaving it out keeps the value and null
    puts the default back. Fields with a value of their own (a, b, enabled, fail_times) are
    never null.
    """

    # For the document (api.openapi_rules.RULES): _one_timing's rule, which no field can say.
    openapi_rules: ClassVar[dict[str, Any]] = {
        "not": {"allOf": [_GIVEN["every"], _GIVEN["crontab"]]}
    }

    a = operand("First operand.")
    b = operand("Second operand.")
    every = JSONNumber(
        allow_none=True,
        validate=Range(MIN_EVERY_SECONDS, MAX_EVERY_SECONDS),
        metadata={
            "description": "Run every N seconds, counted from the previous run "
            "(give this or crontab; null: not every N seconds).",
            "example": 60,
        },
    )
    crontab = fields.String(
        allow_none=True,
        validate=_check_cron,
        metadata={
            "description": "Five-field cron string in UTC: minute hour day-of-month month "
            "day-of-week (0-6 from Sunday, or sun..sat; months 1-12, or jan..dec; a range "
            "may wrap around, as fri-mon). Give this or every; null: no cron string.",
            "example": "*/5 * * * *",
            "maxLength": MAX_CRON_LENGTH,
        },
    )
    queue = fields.String(
        allow_none=True,
        validate=Length(1, 200),
        metadata={
            "description": "A configured queue; null (as without it): DEFAULT_QUEUE, written "
            "into the schedule, like any queue.",
            # OpenAPI 3.0: a nullable enum lists null among its values.
            **from_settings(lambda settings: {"enum": [*settings.queues, None]}),
        },
    )
    retry_policy = RetryPolicyField(
        allow_none=True,
        metadata={
            "description": "A policy name, an inline policy, or null (as without it): the "
            "default policy (DEFAULT_RETRY_POLICY, as it is when each run is sent).",
            # null rides with the names: OpenAPI 3.0 has no {"type": "null"} (3.1 has).
            **from_settings(
                lambda settings: {
                    "oneOf": [
                        {
                            "type": "string",
                            "nullable": True,
                            "enum": [*settings.retry_policies, None],
                        },
                        INLINE_POLICY,
                    ]
                }
            ),
        },
    )
    enabled = JSONBoolean(metadata={"description": "A disabled schedule does not run."})
    expires_after = JSONInteger(
        allow_none=True,
        validate=Range(MIN_EXPIRES_AFTER_SECONDS, MAX_EXPIRES_AFTER_SECONDS),
        metadata={
            "description": "Seconds after the beat sends a run by which a worker must start "
            "it; a run still waiting then ends REVOKED, unrun (Celery's expires). null "
            "(the default): runs never expire, and all wait for a worker. Beat and worker "
            "clocks must agree to well within it.",
            "example": 60,
        },
    )

    @validates_schema
    def _one_timing(self, data: dict[str, Any], **_: Any) -> None:
        if len(_timings_given(data)) > 1:
            raise ValidationError("Give every or crontab, not both.", "every")


def _valid_name(name: str) -> None:
    """The schedules layer's own name check (a whole-string match: a regex ending in ``$``
    alone, as marshmallow's Regexp applies it, also lets a trailing newline through)."""
    try:
        check_name(name)
    except InvalidName as exc:
        raise ValidationError(str(exc)) from None


class ScheduleCreateSchema(ScheduleFieldsSchema):
    """A new schedule: a name, two operands, and every or crontab."""

    openapi_rules: ClassVar[dict[str, Any]] = {"oneOf": [_GIVEN["every"], _GIVEN["crontab"]]}

    name = fields.String(
        required=True,
        validate=_valid_name,
        metadata={
            "description": "Unique name; also the schedule's URL.",
            "example": "nightly",
            "pattern": NAME_PATTERN,
        },
    )
    a = operand("First operand.", required=True)
    b = operand("Second operand.", required=True)
    enabled = JSONBoolean(load_default=True, metadata={"description": "Default true."})

    @validates_schema
    def _some_timing(self, data: dict[str, Any], **_: Any) -> None:
        if not _timings_given(data):
            raise ValidationError(
                "Missing data: give every (seconds) or crontab (a five-field cron string).",
                "every",
            )


class ScheduleUpdateSchema(ScheduleFieldsSchema):
    """Fields to change; the others keep their values. ``null`` puts a field back to its
    default, as a schedule created without it has."""

    # For the document: not both timings (as for any schedule body), and _keep_a_timing's
    # rule: a timing cleared (null) only beside the other one given.
    openapi_rules: ClassVar[dict[str, Any]] = {
        **ScheduleFieldsSchema.openapi_rules,
        "anyOf": [
            {"not": {"anyOf": [_CLEARED["every"], _CLEARED["crontab"]]}},
            _GIVEN["every"],
            _GIVEN["crontab"],
        ],
    }

    fail_times = JSONInteger(
        validate=Range(0, MAX_FAIL_TIMES),
        metadata={"description": "The first k attempts of each run fail, to watch retries."},
    )

    @validates_schema
    def _keep_a_timing(self, data: dict[str, Any], **_: Any) -> None:
        """null clears a timing, and a schedule cannot be left with neither; leaving a field
        out is how a PATCH keeps it."""
        cleared = [key for key in TIMINGS if key in data and data[key] is None]
        if cleared and not _timings_given(data):
            key = cleared[0]
            other = "crontab" if key == "every" else "every"
            raise ValidationError(
                f"null clears {key}, and a schedule runs on every or crontab: give {other} "
                f"beside it, or leave {key} out to keep it.",
                key,
            )

    @post_load
    def _resolve(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Replaces TaskOptionsSchema's hook: only the fields given, policy names resolved."""
        if data.get("retry_policy") is not None:
            data["retry_policy"] = resolve_policy(services().settings, data["retry_policy"])
        return data


class ScheduleSchema(Schema):
    name = fields.String(required=True)
    a = JSONNumber(required=True)
    b = JSONNumber(required=True)
    every = JSONNumber(allow_none=True, metadata={"description": "Seconds, or null."})
    crontab = fields.String(allow_none=True, metadata={"description": "Cron string, or null."})
    enabled = fields.Boolean(required=True)
    queue = fields.String(required=True)
    retry_policy = fields.Nested(
        RetryPolicySchema,
        allow_none=True,
        metadata={"description": "Resolved when set; null means the default policy."},
    )
    fail_times = fields.Integer(required=True)
    expires_after = fields.Integer(
        required=True,
        allow_none=True,
        metadata={"description": "Seconds a run may wait for a worker; null: no limit."},
    )
    next_run_at = fields.DateTime(
        required=True, allow_none=True, metadata={"description": "UTC; null while disabled."}
    )
    last_run_at = fields.DateTime(
        required=True,
        allow_none=True,
        metadata={"description": "When the beat last sent it; null if never."},
    )
    total_run_count = fields.Integer(required=True)


class ScheduleListSchema(Schema):
    schedules = fields.List(fields.Nested(ScheduleSchema), required=True)


class RunSchema(Schema):
    task_id = fields.String(required=True, metadata={"description": "Also GET /result/<id>."})
    status = fields.String(required=True)
    result = fields.Raw(required=True, allow_none=True)
    run_at = fields.DateTime(required=True, metadata={"description": "When the beat sent it."})


class RunListSchema(Schema):
    runs = fields.List(fields.Nested(RunSchema), required=True)


class RunsQuerySchema(Schema):
    limit = IntegerQueryNumber(
        load_default=100,
        validate=Range(1, 10_000),
        metadata={
            "description": "At most this many runs (the history keeps the newest "
            "SCHEDULE_RUNS_KEPT, 100 by default)."
        },
    )


# --- views -----------------------------------------------------------------------------------


def _present(view: ScheduleView) -> dict[str, Any]:
    spec = view.spec
    policy = spec.options.retry_policy
    return {
        "name": spec.name,
        "a": spec.a,
        "b": spec.b,
        "every": spec.timing.as_json() if isinstance(spec.timing, Every) else None,
        "crontab": spec.timing.as_json() if isinstance(spec.timing, Cron) else None,
        "enabled": spec.enabled,
        "queue": spec.options.queue,
        "retry_policy": policy.as_dict() if policy else None,
        "fail_times": spec.options.fail_times,
        "expires_after": spec.expires_after,
        "next_run_at": view.next_run_at,
        "last_run_at": view.last_run_at,
        "total_run_count": view.total_run_count,
    }


def _timing(body: dict[str, Any]) -> dict[str, Timing]:
    """``{"timing": ...}`` from the body's every or crontab; empty if it sets neither."""
    if body.get("every") is not None:
        return {"timing": Every(body["every"])}
    if body.get("crontab") is not None:
        return {"timing": Cron(normalized_cron(body["crontab"]))}
    return {}


def _not_found(name: str) -> NoReturn:
    abort(404, message=f"No schedule named {name!r}.")


def _location(name: str) -> dict[str, str]:
    return {"Location": url_for("schedules.Schedule", name=name)}


@blp.route("/schedules")
class Schedules(MethodView):
    @blp.response(200, ScheduleListSchema)
    def get(self) -> Any:
        """Every schedule, by name."""
        return {"schedules": [_present(view) for view in _store().list()]}

    @blp.idempotent
    @blp.arguments(ScheduleCreateSchema)
    @blp.response(201, ScheduleSchema, headers=LOCATION)
    @blp.alt_response(
        409, description="A schedule with this name exists, or MAX_SCHEDULES are stored."
    )
    def post(self, body: dict[str, Any]) -> Any:
        """Create a schedule: ``a + b`` every N seconds or on a cron string (UTC)."""
        spec = ScheduleSpec(
            name=body["name"],
            a=body["a"],
            b=body["b"],
            enabled=body["enabled"],
            options=body["options"],
            expires_after=body.get("expires_after"),
            **_timing(body),
        )
        try:
            view = _store().create(spec)
        except ScheduleExists:
            abort(409, message=f"A schedule named {spec.name!r} exists; PATCH it or delete it.")
        except TooManySchedules as full:
            abort(409, message=f"{full.limit} schedules are stored (MAX_SCHEDULES); delete one.")
        return _present(view), 201, _location(spec.name)


@blp.route("/schedules/<string:name>")
class Schedule(MethodView):
    @blp.response(200, ScheduleSchema)
    @blp.alt_response(404, description="No schedule with this name.")
    def get(self, name: str) -> Any:
        """One schedule, with next_run_at, last_run_at and total_run_count."""
        try:
            return _present(_store().get(name))
        except ScheduleNotFound:
            _not_found(name)

    # No body is the empty patch, {}: it changes nothing (and answers the schedule).
    @blp.arguments(ScheduleUpdateSchema, required=False)
    @blp.response(200, ScheduleSchema)
    @blp.alt_response(404, description="No schedule with this name.")
    @blp.alt_response(409, description="It kept changing under this update; send it again.")
    def patch(self, body: dict[str, Any], name: str) -> Any:
        """Change fields; the next run moves only if the timing changes or it is re-enabled."""
        changes = {key: body[key] for key in body if key not in ("every", "crontab")}
        try:
            return _present(_store().update(name, **changes, **_timing(body)))
        except ScheduleNotFound:
            _not_found(name)
        except ScheduleBusy:
            abort(409, message=f"Schedule {name!r} kept changing while updating; try again.")

    @blp.response(204)
    @blp.alt_response(404, description="No schedule with this name.")
    @blp.alt_response(409, description="It kept changing under the delete; send it again.")
    def delete(self, name: str) -> Any:
        """Delete a schedule and its run history; it never runs again."""
        try:
            _store().delete(name)
        except ScheduleNotFound:
            _not_found(name)
        except ScheduleBusy:
            abort(409, message=f"Schedule {name!r} kept changing while deleting; try again.")
        return None


@blp.route("/schedules/<string:name>/runs")
class ScheduleRuns(MethodView):
    @blp.arguments(RunsQuerySchema, location="query")
    @blp.response(200, RunListSchema)
    @blp.alt_response(404, description="No schedule with this name.")
    def get(self, query: dict[str, Any], name: str) -> Any:
        """The schedule's runs, newest first, each with its task's status and result."""
        try:
            runs = _store().run_history(name, query["limit"])
        except ScheduleNotFound:
            _not_found(name)
        return {
            "runs": [
                {"task_id": r.task_id, "status": r.status, "result": r.result, "run_at": r.run_at}
                for r in runs
            ]
        }
