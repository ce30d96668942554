"""Liveness for load balancers and people: is Redis answering, which workers are up."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import abort
from marshmallow import Schema, fields

from api.blueprint import Blueprint
from api.services import services
from workflows.redis_client import REDIS_ERRORS

blp = Blueprint("health", __name__, description="Service health.")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})
    redis = fields.String(required=True)
    workers = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Each worker seen, with the queues it consumes."},
    )


@blp.route("/health")
class Health(MethodView):
    @blp.doc(security=[])  # open to load balancers even when API_KEYS is set
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, description="Redis does not answer.")
    def get(self) -> Any:
        """200 when Redis answers (within about a second), else 503 with the reason."""
        svc = services()
        try:
            svc.redis.ping()
        except REDIS_ERRORS as exc:
            abort(503, message=f"Redis does not answer: {exc}", headers={"Retry-After": "2"})
        return {"status": "ok", "redis": "ok", "workers": svc.workers.queues_by_worker()}
