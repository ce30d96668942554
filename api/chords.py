"""Chords: a group of adds and a callback that totals their sums."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from api.blueprint import Blueprint
from api.openapi import LOCATION
from api.services import services
from api.workflow_schemas import ChordAcceptedSchema, ChordRequestSchema
from workflows.canvas import submit_chord

blp = Blueprint("chords", __name__, description="Chords of adds (Celery chord).")


@blp.route("/chords")
class Chords(MethodView):
    @blp.idempotent
    @blp.arguments(ChordRequestSchema)
    @blp.response(202, ChordAcceptedSchema, headers=LOCATION)
    def post(self, body: dict[str, Any]) -> Any:
        """Queue the adds and a callback; GET /result/<task_id> gives the total of all sums.

        The callback (``sumflow.sum_all``) runs once every member has finished. If a member
        fails or is revoked, the callback ends FAILURE with a ChordError naming that member's
        task id. GET /groups/<group_id> shows the members' progress.
        """
        svc = services()
        handle = submit_chord(
            svc.celery, svc.redis, body["pairs"], body["options"], body.get("chunk_size")
        )
        reply = {
            "task_id": handle.task_id,
            "group_id": handle.group_id,
            "task_ids": handle.task_ids,
            "chunk_size": handle.chunk_size,
        }
        return reply, 202, {"Location": url_for("tasks.Result", task_id=handle.task_id)}
