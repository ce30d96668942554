"""Groups: many pairs added in parallel, one task per pair or per chunk, read back in order."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import url_for
from flask.views import MethodView

from api.blueprint import Blueprint
from api.errors import abort
from api.openapi import LOCATION
from api.services import services
from api.workflow_schemas import GroupAcceptedSchema, GroupRequestSchema, GroupStatusSchema
from workflows.canvas import submit_group
from workflows.groups import read_group
from workflows.registry import issued_key

blp = Blueprint("groups", __name__, description="Groups of adds (Celery group and chunks).")


@blp.route("/groups")
class Groups(MethodView):
    @blp.idempotent
    @blp.arguments(GroupRequestSchema)
    @blp.response(202, GroupAcceptedSchema, headers=LOCATION)
    def post(self, body: dict[str, Any]) -> Any:
        """Queue every pair; GET /groups/<group_id> gives the sums in request order."""
        svc = services()
        handle = submit_group(
            svc.celery, svc.redis, body["pairs"], body["options"], body.get("chunk_size")
        )
        reply = {
            "group_id": handle.group_id,
            "task_ids": handle.task_ids,
            "chunk_size": handle.chunk_size,
        }
        return reply, 202, {"Location": url_for("groups.Group", group_id=handle.group_id)}


@blp.route("/groups/<string:group_id>")
class Group(MethodView):
    @blp.response(200, GroupStatusSchema)
    @blp.alt_response(404, description="No group with this id was issued, or it has expired.")
    def get(self, group_id: str) -> Any:
        """A group's status, counts and per-pair results (null where not done), in order.

        Reads every member's state in one Redis round trip, however large the group.
        """
        client = services().redis
        view = read_group(client, group_id)
        if view is None:
            hint = (
                f" It is a task's id: read it at /result/{group_id}."
                if client.exists(issued_key(group_id))
                else ""
            )
            abort(404, message=f"No group with id {group_id!r} was issued by this service.{hint}")
        return {
            "group_id": group_id,
            "status": view.status,
            "total": view.total,
            "completed": view.completed,
            "failed": view.failed,
            "chunk_size": view.chunk_size,
            "results": view.results,
            "errors": [asdict(error) for error in view.errors],
        }
