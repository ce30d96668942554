"""The study guide's core: submit an add, read its result, revoke it."""

from __future__ import annotations

from typing import Any

from celery import states, uuid
from flask import jsonify, request, url_for
from flask.blueprints import BlueprintSetupState
from flask.views import MethodView

from api import prefer
from api.blueprint import Blueprint
from api.errors import abort
from api.instrumentation import count_declined_wait, declare_waiting_endpoints
from api.openapi import LOCATION
from api.rate_limit import counted_with_publish, publish_gate
from api.schemas import (
    MAX_WAIT_SECONDS,
    AddRequestSchema,
    RevokeAcceptedSchema,
    RevokeQuerySchema,
    TaskAcceptedSchema,
    TaskDoneSchema,
    TaskResultSchema,
    WaitQuerySchema,
)
from api.services import services
from api.wait_slots import RETRY_AFTER_SECONDS
from workflows.broker import PublishGate
from workflows.groups import group_key
from workflows.results import TaskView, submit_and_wait, wait_for_task
from workflows.revocation import revoke
from workflows.submit import TaskOptions, submit_add

blp = Blueprint("tasks", __name__, description="Single adds: submit, read, revoke.")

_DONE = TaskDoneSchema()

_PREFER_DOC = {
    "in": "header",
    "name": prefer.HEADER,
    "required": False,
    "schema": {"type": "string", "example": "wait=5"},
    "description": f"`wait=N` (RFC 7240): hold the request up to N seconds (at most "
    f"{MAX_WAIT_SECONDS}) and answer 200 with the result if the task finishes in time, "
    f"else 202 as usual. The answer's `{prefer.APPLIED_HEADER}` says which wait was applied; "
    "without it (the server already holds as many waits as it allows) the 202 comes at once, "
    "with `Retry-After: 1`.",
}


@blp.record_once
def _declare_waits(state: BlueprintSetupState) -> None:
    declare_waiting_endpoints(state.app, "/add", "/result/<task_id>")


def _located(task_id: str) -> dict[str, str]:
    return {"Location": url_for("tasks.Result", task_id=task_id)}


def _find(task_id: str, wait: float = 0) -> TaskView:
    client = services().redis
    view = wait_for_task(client, task_id, wait)
    if view is None:
        # A chord answers with a group_id beside its task_id: say where such an id is read.
        hint = (
            f" It is a group's id: read it at /groups/{task_id}."
            if client.exists(group_key(task_id))
            else ""
        )
        abort(404, message=f"No task with id {task_id!r} was issued by this service.{hint}")
    return view


def _declined() -> dict[str, str]:
    """The headers of an answer whose wait found every waiting slot taken; counted."""
    count_declined_wait()
    return {"Retry-After": str(RETRY_AFTER_SECONDS)}


def _submit_and_wait(
    a: Any, b: Any, options: TaskOptions, gate: PublishGate | None, wait: float
) -> Any:
    """``POST /add`` with ``Prefer: wait``: 200 with the sum if it is ready in time, else 202."""
    svc = services()
    task_id = uuid()
    view = submit_and_wait(
        svc.redis, task_id, wait, lambda: submit_add(svc.celery, a, b, options, task_id, gate)
    )
    headers = {**_located(task_id), prefer.APPLIED_HEADER: prefer.applied(wait)}
    if not view.ready:
        return {"task_id": task_id}, 202, headers
    done = {"task_id": task_id, "status": view.status, "result": view.result}
    return jsonify(_DONE.dump(done)), 200, headers


@blp.route("/add", parameters=[_PREFER_DOC])
class Add(MethodView):
    @counted_with_publish
    @blp.idempotent
    @blp.arguments(AddRequestSchema)
    @blp.response(202, TaskAcceptedSchema, headers=LOCATION)
    @blp.alt_response(
        200,
        schema=TaskDoneSchema,
        description="The task finished within `Prefer: wait`.",
        headers=LOCATION,
    )
    def post(self, body: dict[str, Any]) -> Any:
        """Queue a + b; poll the Location header (GET /result/<task_id>) for the sum, or send
        ``Prefer: wait=N`` to get it in this answer when it is ready within N seconds."""
        svc = services()
        a, b, options = body["a"], body["b"], body["options"]
        wait = prefer.requested_wait(request.headers.get(prefer.HEADER), MAX_WAIT_SECONDS)
        gate = publish_gate()  # the rate limit's count, made in the publish's round trip
        if wait is not None:
            with svc.waits.hold(wait) as granted:
                if granted is not None:
                    return _submit_and_wait(a, b, options, gate, granted)
        task_id = submit_add(svc.celery, a, b, options, gate=gate)
        return {"task_id": task_id}, 202, _located(task_id) | ({} if wait is None else _declined())


@blp.route("/result/<string:task_id>")
class Result(MethodView):
    @blp.arguments(WaitQuerySchema, location="query")
    @blp.response(200, TaskResultSchema)
    @blp.alt_response(404, description="No task with this id was issued by this service.")
    def get(self, query: dict[str, Any], task_id: str) -> Any:
        """A task's status and result; ``?wait=N`` holds up to N s until it is done."""
        with services().waits.hold(query["wait"]) as granted:
            view = _find(task_id, granted or 0)
        headers = _declined() if granted is None and not view.ready else {}
        return {"status": view.status, "result": view.result}, 200, headers


@blp.route("/tasks/<string:task_id>")
class Task(MethodView):
    @blp.arguments(RevokeQuerySchema, location="query")
    @blp.response(202, RevokeAcceptedSchema)
    @blp.alt_response(404, description="No task with this id was issued by this service.")
    @blp.alt_response(
        409, description="The task has finished, or is running and terminate was not asked for."
    )
    def delete(self, query: dict[str, Any], task_id: str) -> Any:
        """Revoke a task: it ends REVOKED. A running one needs ``?terminate=true``."""
        _find(task_id)  # 404 for an id this service did not issue
        svc = services()
        stopped = revoke(svc.celery, svc.redis, task_id, terminate=query["terminate"])
        if stopped == states.STARTED:
            abort(409, message=f"Task {task_id} is running; revoke it with ?terminate=true.")
        if stopped is not None:
            abort(409, message=f"Task {task_id} already finished with {stopped}.")
        return {"task_id": task_id, "terminate": query["terminate"]}, 202, _located(task_id)
