"""The configured queues: how many messages wait in each and which workers consume it."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from api.blueprint import Blueprint
from api.services import services
from workflows.inspection import queue_depths

blp = Blueprint("queues", __name__, description="Queues and the workers consuming them.")


class QueueSchema(Schema):
    name = fields.String(required=True)
    messages = fields.Integer(required=True, metadata={"description": "Messages waiting."})
    workers = fields.List(fields.String(), required=True)


class QueueListSchema(Schema):
    queues = fields.List(fields.Nested(QueueSchema), required=True)


@blp.route("/queues")
class Queues(MethodView):
    @blp.response(200, QueueListSchema)
    def get(self) -> Any:
        """Every configured queue, its waiting messages and its workers (cached ~3 s)."""
        svc = services()
        names = svc.settings.queues
        depths = queue_depths(svc.redis, names)
        return {
            "queues": [
                {"name": n, "messages": depths[n], "workers": svc.workers.workers_for(n)}
                for n in names
            ]
        }
