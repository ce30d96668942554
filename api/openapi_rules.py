"""What the OpenAPI document says a request may hold beyond what its marshmallow fields say:
limits taken from the settings, and rules across fields.

The request schemas are classes every app shares, but what a request may hold depends on its
app's settings (TASK_QUEUES, VISIBILITY_TIMEOUT_SECONDS, MAX_PAIRS, ...), and a rule such as
"every or crontab, not both" belongs to no one field. Left out, the document allowed requests
the server refused with a 422, and clients and fuzzers built from it sent them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apispec import APISpec, BasePlugin
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from marshmallow import fields

from config import Settings

__all__ = ["RULES", "RequestRules", "from_settings"]

#: The field metadata key that holds `from_settings`'s function.
_FROM_SETTINGS = "from_settings"

#: The name of a schema class's attribute holding JSON Schema keywords about several of its
#: fields together (``oneOf``, ``not``); subclasses inherit it, or replace it.
RULES = "openapi_rules"


def from_settings(keywords: Callable[[Settings], dict[str, Any]]) -> dict[str, Any]:
    """Field metadata: ``keywords(settings)`` gives the JSON Schema keywords (``enum``,
    ``maximum``, ``maxItems``) of a limit the field's validation reads from the settings."""
    return {_FROM_SETTINGS: keywords}


class RequestRules(BasePlugin):
    """An apispec plugin: writes each field's `from_settings` keywords in with this app's
    settings, and each schema class's `RULES`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def init_spec(self, spec: APISpec) -> None:
        # flask-smorest lists the marshmallow plugin before the extra ones, so its converter
        # exists by now; the function runs last for each field, after metadata's keywords.
        (marshmallow,) = [p for p in spec.plugins if isinstance(p, MarshmallowPlugin)]
        assert marshmallow.converter is not None
        settings = self.settings

        def settings_limits(_converter: Any, field: fields.Field, **_: Any) -> dict[str, Any]:
            keywords = field.metadata.get(_FROM_SETTINGS)
            return keywords(settings) if keywords else {}

        marshmallow.converter.add_attribute_function(settings_limits)

    def schema_helper(
        self, name: str, definition: dict[str, Any], **kwargs: Any
    ) -> dict[str, Any] | None:
        schema = kwargs.get("schema")
        if schema is None:
            return None
        rules = getattr(resolve_schema_cls(schema), RULES, None)
        return dict(rules) if rules else None
