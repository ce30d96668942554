"""The named retry policies a request may pick by name."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from api.blueprint import Blueprint
from api.schemas import RetryPolicySchema
from api.services import services

blp = Blueprint("retry_policies", __name__, description="Retry policies.")


class NamedRetryPolicySchema(RetryPolicySchema):
    name = fields.String(required=True)


class RetryPolicyListSchema(Schema):
    default = fields.String(required=True, metadata={"description": "Used when none is given."})
    max_delay_seconds = fields.Float(
        required=True, metadata={"description": "No retry waits longer than this."}
    )
    policies = fields.List(fields.Nested(NamedRetryPolicySchema), required=True)


@blp.route("/retry-policies")
class RetryPolicies(MethodView):
    @blp.response(200, RetryPolicyListSchema)
    def get(self) -> Any:
        """Every named policy, with max_retries, backoff, backoff_max and jitter."""
        settings = services().settings
        return {
            "default": settings.default_retry_policy,
            "max_delay_seconds": settings.max_delay_seconds,
            "policies": [
                {"name": name, **policy.as_dict()}
                for name, policy in settings.retry_policies.items()
            ],
        }
