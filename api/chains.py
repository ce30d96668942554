"""Chains: ((n0 + n1) + n2) + ..., one add per step, each step fed the previous sum."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask.views import MethodView

from api.blueprint import Blueprint
from api.openapi import LOCATION
from api.services import services
from api.workflow_schemas import ChainAcceptedSchema, ChainRequestSchema
from workflows.canvas import submit_chain

blp = Blueprint("chains", __name__, description="Chains of adds (Celery chain).")


@blp.route("/chains")
class Chains(MethodView):
    @blp.idempotent
    @blp.arguments(ChainRequestSchema)
    @blp.response(202, ChainAcceptedSchema, headers=LOCATION)
    def post(self, body: dict[str, Any]) -> Any:
        """Queue a chain; GET /result/<task_id> (its last step) gives the total.

        If a step fails, every later step ends FAILURE at once with a message naming the step
        that broke, so the chain never stays PENDING. If a step is revoked, the later steps end
        REVOKED the same way once a worker takes the revoked step from its queue.
        """
        svc = services()
        handle = submit_chain(svc.celery, svc.redis, body["numbers"], body["options"])
        location = url_for("tasks.Result", task_id=handle.task_id)
        return {"task_id": handle.task_id, "task_ids": handle.task_ids}, 202, {"Location": location}
