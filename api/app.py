"""The app factory: settings, services, security, the OpenAPI document and every blueprint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from api import (
    chains,
    chords,
    docs_assets,
    groups,
    health,
    instrumentation,
    metrics,
    queues,
    request_id,
    retry_policies,
    schedules,
    tasks,
)
from api.auth import init_auth, security_spec
from api.auth_failures import FailureBudget
from api.body_limit import init_body_limit
from api.errors import SumflowApi, register_error_handlers
from api.openapi import SharedErrorResponses
from api.openapi_rules import RequestRules
from api.rate_limit import init_rate_limit
from api.schemas import InlineRetryPolicySchema
from api.security_headers import init_security_headers
from api.services import EXTENSION_KEY, Services
from api.trusted_hosts import init_trusted_hosts
from config import Settings, load_settings
from config.logging_config import configure_root_logging
from config.settings import settings_or_exit
from config.trusted_hosts import resolve_trusted_hosts

__all__ = ["create_app"]

BLUEPRINTS = (
    tasks.blp,
    chains.blp,
    groups.blp,
    chords.blp,
    retry_policies.blp,
    queues.blp,
    health.blp,
    schedules.blp,
    metrics.blp,
)


def _openapi_config(settings: Settings) -> dict[str, Any]:
    return {
        "API_TITLE": "sumflow",
        "API_VERSION": "1.0",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": docs_assets.ASSETS_URL,
        "API_SPEC_OPTIONS": {
            "info": {
                "description": "Sums numbers in the background with Celery and Redis: single "
                "adds, chains, groups, chords, retry policies, queues and schedules."
            },
            **security_spec(settings.api_keys),
        },
        "MAX_CONTENT_LENGTH": settings.max_request_bytes,
    }


def create_app(config: Mapping[str, Any] | Settings | None = None) -> Flask:
    """Build the app. ``config`` is a Settings, or overrides of Settings fields (tests pass
    ``{"redis_url": ...}``); anything not given comes from the environment.

    Built from the environment alone (``flask --app api run``, Granian's workers), a setting
    that cannot work ends the process with one line naming the variable (exit 2), as it ends
    `python -m api.serve` and `celery -A workflows`, not with Flask's traceback."""
    if isinstance(config, Settings):
        settings = config
    elif config is None:
        settings = settings_or_exit()
    else:
        settings = load_settings(**dict(config))
    configure_root_logging(settings)
    app = Flask(__name__)
    # Paths are taken as written: werkzeug would answer `/result//x` with an HTML 308 to an
    # absolute URL built from the Host header. A doubled slash is a 404 naming the path meant,
    # as a trailing one is (api.errors).
    app.url_map.merge_slashes = False
    instrumentation.init_app(app)  # first, so that it times every request
    request_id.init_app(app)  # next, so that every answer and access line carries an id
    init_security_headers(app)  # early: its after_request hook sees every answer, replaced or not
    # Before every other hook: a Host it does not answer for (DNS rebinding) costs nothing.
    init_trusted_hosts(app, resolve_trusted_hosts(settings.trusted_hosts, settings.host))
    app.config.update(_openapi_config(settings))
    assert isinstance(app.json, DefaultJSONProvider)  # Flask's own: nothing here sets another
    app.json.sort_keys = False
    app.extensions[EXTENSION_KEY] = svc = Services.create(settings)
    app.extensions["celery"] = svc.celery
    # Before any view: who is calling (401 without a valid key; 429 for an address past its
    # budget of failed keys), then how often (429), then a chunked body's real length (413),
    # which the 415 check of register_error_handlers, registered below, reads.
    failures = (
        FailureBudget(svc.redis, settings.auth_failure_limit)
        if settings.api_keys and settings.auth_failure_limit
        else None
    )
    init_auth(app, settings.api_keys, failures)
    init_rate_limit(app, settings.rate_limit, svc.redis)
    init_body_limit(app)
    # One Api per app: it owns this app's OpenAPI document.
    plugins = [SharedErrorResponses(settings), RequestRules(settings)]
    api = SumflowApi(app, spec_kwargs={"extra_plugins": plugins})
    # Referenced by every request's inline retry_policy (api.schemas.RetryPolicyField).
    api.spec.components.schema("InlineRetryPolicy", schema=InlineRetryPolicySchema)
    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    instrumentation.declare_submitting_endpoints(app)
    app.register_blueprint(docs_assets.blp)  # static files: not in the OpenAPI document
    register_error_handlers(app, api)
    return app


def close_app(app: Flask) -> None:
    """Close every Redis connection ``app`` holds now, not whenever the garbage collector
    frees it (a ResourceWarning at some unrelated moment): for an app dropped before its
    process ends, such as a test's. The app cannot serve afterwards."""
    app.extensions[EXTENSION_KEY].close()
    app.extensions[schedules.STORE_KEY].client.close()
