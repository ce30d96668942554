"""Idempotency-Key on POSTs that submit work: a retried request gets the first answer back.

A client whose POST timed out cannot tell whether its work was queued. Sent again with the
same ``Idempotency-Key`` header, the request gets the original response back (same status,
body and Location, so the same task ids) instead of queueing the work twice.

How: the first request claims the key in Redis with ``SET NX`` (so of two concurrent
duplicates only one can submit; the other gets 409), runs, and replaces the claim with its
response, kept as long as results are (RESULT_EXPIRES_SECONDS). Keys are scoped per client
(API key or address), method and path, and the request body is fingerprinted: the same key
with a different body is refused with 422. Only accepted submissions (2xx) are remembered: a
refused request frees its key, so it can be corrected and sent again under the same key.

Any POST view opts in with ``@blp.idempotent`` (see `api.blueprint.Blueprint`), which also
documents the header and the 409 in the OpenAPI document.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

import flask_smorest
from flask import Response, current_app, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields

from api.auth import client_identity
from api.errors import abort
from api.prefer import APPLIED_HEADER
from api.services import services
from workflows.redis_client import REDIS_ERRORS

__all__ = ["HEADER", "KEY_PREFIX", "REPLAYED_HEADER", "idempotent"]

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PREFIX = "sumflow:idempotency:"

#: Seconds a claim outlives a request that died before answering; then the key is free again.
PENDING_TTL = 60

#: Response headers replayed along with the status and body.
_REPLAYED_HEADERS = ("Location", APPLIED_HEADER)


#: 1 to 255 printable ASCII characters without spaces or commas, as the OpenAPI document says.
KEY_PATTERN = r"^[\x21-\x2b\x2d-\x7e]{1,255}$"


def _valid_key(key: str) -> None:
    """Whole-string checks with one message each (a regex ending in ``$`` would let a
    trailing newline through). The web server hands over a value that is not ASCII as an
    empty string, so an empty key gets the same message as one with wrong characters."""
    if "," in key:
        # The web server joins repeated headers with commas, so a comma means two keys.
        raise ValidationError("Must be one key: send the header once, without commas.")
    if not re.fullmatch(r"[\x21-\x7e]{1,255}", key):
        raise ValidationError("Must be 1 to 255 printable ASCII characters, without spaces.")


class IdempotencyHeaderSchema(Schema):
    class Meta:
        unknown = EXCLUDE  # every other header

    idempotency_key = fields.String(
        data_key=HEADER,
        validate=_valid_key,
        metadata={
            "pattern": KEY_PATTERN,
            "description": "Send the same key again (e.g. a UUID) to get the first response "
            "back instead of submitting twice. Remembered as long as results are.",
        },
    )


def _store_key(key: str) -> str:
    scope = "\n".join((client_identity(), request.method, request.path, key))
    return KEY_PREFIX + hashlib.sha256(scope.encode()).hexdigest()


def _fingerprint() -> str:
    digest = hashlib.sha256(request.query_string)
    digest.update(b"\n")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _record(response: Response, fingerprint: str) -> str:
    return json.dumps(
        {
            "state": "done",
            "fingerprint": fingerprint,
            "status": response.status_code,
            "content_type": response.content_type,
            "body": response.get_data(as_text=True),
            "headers": {h: response.headers[h] for h in _REPLAYED_HEADERS if h in response.headers},
        }
    )


def _replay(record: dict[str, Any]) -> Response:
    response = Response(
        record["body"], status=record["status"], content_type=record["content_type"]
    )
    response.headers.update(record["headers"])
    response.headers[REPLAYED_HEADER] = "true"
    return response


def _answer_from(raw: bytes | str, fingerprint: str) -> Response:
    record = json.loads(raw)
    if record["fingerprint"] != fingerprint:
        abort(
            422,
            message=f"{HEADER}: this key was already used with a different request; "
            "use a new key for new work.",
        )
    if record["state"] != "done":
        abort(
            409,
            message=f"{HEADER}: a request with this key is still being processed; "
            "retry shortly to get its response.",
            headers={"Retry-After": "1"},
        )
    return _replay(record)


def _release(store_key: str) -> None:
    try:
        services().redis.delete(store_key)
    except REDIS_ERRORS as exc:  # the claim expires by itself after PENDING_TTL
        logger.warning("could not release idempotency key: %s", exc)


def _once(key: str, submit: Callable[[], Any]) -> Response:
    svc = services()
    store_key = _store_key(key)
    fingerprint = _fingerprint()
    claim = json.dumps({"state": "pending", "fingerprint": fingerprint})
    for _ in range(2):  # a second try only if the key expired between SET and GET
        if svc.redis.set(store_key, claim, nx=True, ex=PENDING_TTL):
            break
        raw = svc.redis.get(store_key)
        if raw is not None:
            return _answer_from(raw, fingerprint)
    else:
        abort(409, message=f"{HEADER}: this key is busy; retry shortly.")
    try:
        response = current_app.make_response(submit())
    except BaseException:
        _release(store_key)
        raise
    if not 200 <= response.status_code < 300:
        _release(store_key)
        return response
    try:
        svc.redis.set(
            store_key, _record(response, fingerprint), ex=svc.settings.result_expires_seconds
        )
    except REDIS_ERRORS as exc:
        # The work is queued: answer it. A retry with this key gets 409 until the claim
        # expires (PENDING_TTL), then submits again (docs/reliability.md, "What is not
        # guaranteed").
        logger.warning("could not remember the response for an idempotency key: %s", exc)
    return response


def idempotent(blp: flask_smorest.Blueprint, view: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a POST view so that a repeated ``Idempotency-Key`` replays the first response."""

    @wraps(view)
    def wrapper(*args: Any, idempotency_key: str | None = None, **kwargs: Any) -> Any:
        if idempotency_key is None:
            return view(*args, **kwargs)
        return _once(idempotency_key, lambda: view(*args, **kwargs))

    documented = blp.alt_response(
        409, description=f"A request with the same {HEADER} is still being processed."
    )(wrapper)
    parsed = blp.arguments(IdempotencyHeaderSchema, location="headers", as_kwargs=True)(documented)

    @wraps(parsed)
    def without_key_fast(*args: Any, **kwargs: Any) -> Any:
        # Most submissions carry no key: webargs would still load and validate every header
        # (about 2% of a POST /add plus its GET /result). Only a present key is parsed.
        if HEADER not in request.headers:
            return view(*args, **kwargs)
        return parsed(*args, **kwargs)

    return without_key_fast
