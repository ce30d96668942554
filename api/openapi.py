"""The error answers (and the Location header) that many operations share, written into the
OpenAPI document once.

They come from layers outside the views (the Host check, JSON body checks, the body limit,
auth, the rate limiter, the Redis error handler), so no view's decorators name them; without
this, clients and schema checkers saw them only as the generic ``default`` response.
"""

from __future__ import annotations

from typing import Any

from apispec import BasePlugin

from config import Settings
from config.trusted_hosts import resolve_trusted_hosts

__all__ = ["LOCATION", "SharedErrorResponses"]

#: Operations that answer without Redis: the policies are configuration, and /metrics reports
#: ``sumflow_redis_up 0`` rather than fail.
WITHOUT_REDIS = frozenset({"/retry-policies", "/metrics"})

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}


#: The header of every accepted submission: where its result (or group, or schedule) is read.
LOCATION = {
    "Location": {
        "description": "Where to read what was submitted: its GET URL, relative to the API.",
        "schema": {"type": "string"},
    }
}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if headers:
        response["headers"] = headers
    return response


class SharedErrorResponses(BasePlugin):
    """An apispec plugin: adds each shared error to the operations that can answer it, unless
    the view documents that status itself."""

    def __init__(self, settings: Settings) -> None:
        self.auth = bool(settings.api_keys)
        self.rate_limited = bool(settings.rate_limit)
        self.failures_limited = self.auth and bool(settings.auth_failure_limit)
        self.hosts_checked = (
            resolve_trusted_hosts(settings.trusted_hosts, settings.host) is not None
        )

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any
    ) -> None:
        for method, operation in (operations or {}).items():
            responses = operation.setdefault("responses", {})
            documented = {str(status) for status in responses}  # flask-smorest's are ints
            for status, response in self._errors(path or "", method, operation):
                if status not in documented:
                    responses[status] = response

    @property
    def _unauthorized(self) -> str:
        description = "No valid API key: send Authorization: Bearer KEY."
        if self.failures_limited:
            # /metrics and /retry-policies answer without Redis, but a failure is counted there.
            description += " A wrong key while Redis is down is 503: it cannot be counted."
        return description

    def _errors(
        self, path: str, method: str, operation: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        errors = []
        if self.hosts_checked:
            errors.append(
                (
                    "421",
                    _error(
                        "The Host header names a host this service does not answer for "
                        "(DNS rebinding?): see TRUSTED_HOSTS."
                    ),
                )
            )
        if "requestBody" in operation:
            errors += [
                ("400", _error("The body is not valid JSON, or holds a number too long to read.")),
                ("413", _error("The body is larger than MAX_REQUEST_BYTES.")),
                (
                    "415",
                    _error(
                        "The body is not JSON: send Content-Type application/json, uncompressed."
                    ),
                ),
            ]
        secured = self.auth and operation.get("security") != []
        if secured:
            errors.append(("401", _error(self._unauthorized)))
        too_many = []  # the reasons for a 429, one sentence each
        if self.rate_limited and method == "post":
            too_many.append("Over RATE_LIMIT for this client.")
        if secured and self.failures_limited:
            too_many.append("Too many failed API keys from its address (AUTH_FAILURE_LIMIT).")
        if too_many:
            errors.append(("429", _error(" ".join(too_many), RETRY_AFTER)))
        if path not in WITHOUT_REDIS:
            errors.append(("503", _error("Redis does not answer.", RETRY_AFTER)))
        return errors
