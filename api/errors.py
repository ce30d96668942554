"""One JSON error shape for every failure, mapped in one place.

flask-smorest already answers HTTP errors as ``{"code", "status", "message", "errors"}``; this
module makes the message name the offending fields, turns Redis outages into a quick 503, and
makes sure nothing else (a bug included) leaks a stack trace or an HTML page.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, current_app, request
from flask_smorest import Api

# flask-smorest's ``abort`` is this one, re-exported untyped; taken from webargs, its ``NoReturn``
# tells mypy that a call never returns. The API's modules import it from here.
from webargs.flaskparser import abort
from werkzeug.exceptions import (
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

from api.access_log import readable_path
from workflows.redis_client import OUTAGE_ERRORS

__all__ = ["SumflowApi", "abort", "error_body", "register_error_handlers"]

logger = logging.getLogger(__name__)

#: Methods whose body, when present, must be JSON.
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def error_body(code: int, message: str, errors: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "status": HTTPStatus(code).phrase, "message": message}
    if errors:
        body["errors"] = errors
    return body


#: What an error answer repeats of the request, at most: a 7 MB value, or 300,000 unknown
#: keys, must not come back as a 15 MB answer (one bad request, costly twice over).
MAX_ERROR_ENTRIES = 10
MAX_ERROR_TEXT = 300


def _shorten(text: str) -> str:
    if len(text) <= MAX_ERROR_TEXT:
        return text
    return f"{text[:MAX_ERROR_TEXT]}... ({len(text)} characters in all)"


def _bounded(errors: Any) -> Any:
    """``errors`` with at most MAX_ERROR_ENTRIES entries per level and long texts cut."""
    if isinstance(errors, dict):
        items = list(errors.items())[:MAX_ERROR_ENTRIES]
        return {_shorten(str(key)): _bounded(value) for key, value in items}
    if isinstance(errors, list | tuple):
        return [_bounded(item) for item in errors[:MAX_ERROR_ENTRIES]]
    return _shorten(errors) if isinstance(errors, str) else errors


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    """``{"json": {"a": ["Bad."]}}`` → ``["a: Bad."]`` (location names dropped)."""
    if isinstance(errors, dict):
        parts: list[str] = []
        for key, value in errors.items():
            key = str(key)
            if not prefix and key in ("json", "query", "path", "headers", "form"):
                parts += _flatten(value, "")
            elif key == "_schema":
                parts += _flatten(value, prefix or "body")
            else:
                parts += _flatten(value, f"{prefix}.{key}" if prefix else key)
        return parts
    if isinstance(errors, list | tuple):
        if all(isinstance(item, str) for item in errors):
            text = " ".join(errors)
            return [f"{prefix}: {text}" if prefix else text]
        return [part for item in errors for part in _flatten(item, prefix)]
    return [f"{prefix}: {errors}" if prefix else str(errors)]


def _logged_path() -> str:
    """The request's path and query for a log line, control characters escaped: a path may
    hold an encoded line break (``%0A``), which would let a client write a line of its own."""
    return readable_path(request.environ)


def _unknown_path_message(path: str) -> str:
    """A 404 for a URL no route matches: name the path, and the one without its trailing or
    doubled slashes when that one exists (the URL map takes paths as written: see
    `create_app`), else the docs."""
    single = re.sub("/{2,}", "/", path)
    stripped = single.rstrip("/")
    if stripped and stripped != path:
        adapter = current_app.url_map.bind("")
        try:
            adapter.match(stripped, method=request.method)
        except MethodNotAllowed:
            pass  # the path exists, for other methods: its own 405 will say which
        except HTTPException:
            stripped = ""
        if stripped:
            what = "the slash" if single == path else "the extra slashes"
            return f"No endpoint at {path!r}; did you mean {stripped!r}, without {what}?"
    return f"No endpoint at {path!r}; see /docs for the API's endpoints."


class SumflowApi(Api):
    """flask-smorest's Api whose error messages always say what was wrong, and where."""

    def handle_http_exception(self, error: HTTPException) -> Any:
        payload, code, headers = super().handle_http_exception(error)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            # RFC 9110 asks a 405 to say which methods the resource does allow.
            allowed = ", ".join(sorted(error.valid_methods))
            headers = {**(headers or {}), "Allow": allowed}
            payload["message"] = f"The method is not allowed for this URL; it allows {allowed}."
        if isinstance(error, NotFound) and request.url_rule is None:
            payload["message"] = _unknown_path_message(request.path)
        errors = payload.get("errors")
        if errors:
            payload["errors"] = bounded = _bounded(errors)
            if "message" not in payload:
                problems = _flatten(bounded)
                more = len(_flatten(errors)) - len(problems)
                listed = "; ".join(part.rstrip(".") for part in problems)
                tail = f"; and {more} more" if more > 0 else ""
                payload["message"] = f"Invalid request: {listed}{tail}."
        if "message" not in payload:
            payload["message"] = error.description or error.name
        payload["message"] = _shorten(str(payload["message"]))
        return payload, code, headers


def register_error_handlers(app: Flask, api: SumflowApi) -> None:
    """Map every failure to the one error shape: Redis outages (503), an oversized body (413)
    and anything unexpected (500); HTTP errors through ``api``.

    Two hooks that are not error handlers live here too, because they keep answers that no
    view writes in the same shape: a body that is not plain JSON is refused with a JSON 415
    before any view's parser sees it, and Flask's own empty ``text/html`` answer to OPTIONS
    becomes a 204 (no 204 carries a Content-Type). The 415 check reads the declared length,
    so it must be registered after `api.body_limit`'s hook, which gives a chunked body its
    real one (see `create_app`)."""

    @app.before_request
    def _require_json_body() -> None:
        if request.method not in _BODY_METHODS or not request.content_length:
            return
        if not request.is_json:
            raise UnsupportedMediaType(
                "The request body must be JSON: send 'Content-Type: application/json'."
            )
        encoding = request.headers.get("Content-Encoding", "").strip().lower()
        if encoding not in ("", "identity"):
            # RFC 9110 15.5.16: 415 for a content coding the server does not take, with
            # Accept-Encoding naming the ones it does.
            abort(
                415,
                message=f"The request body must not be encoded (Content-Encoding: {encoding}); "
                "send the JSON as it is.",
                headers={"Accept-Encoding": "identity"},
            )

    def _unavailable(exc: Exception) -> Any:
        logger.warning(
            "Redis unavailable while handling %s %s: %s", request.method, _logged_path(), exc
        )
        # The cause is in the log line above; the client's next step is the same whatever it
        # was (a refused connection, a timeout, kombu's OperationalError wrapping either).
        body = error_body(503, "Redis is unavailable, try again shortly.")
        return body, 503, {"Retry-After": "2"}

    for exc_type in OUTAGE_ERRORS:
        app.register_error_handler(exc_type, _unavailable)

    @app.after_request
    def _no_content_has_no_type(response: Response) -> Response:
        # Flask answers OPTIONS itself with an empty 200 labelled text/html; say it plainly.
        # A view's 204 (flask-smorest labels it application/json) has no body to type either.
        if request.method == "OPTIONS" and response.status_code == 200 and not response.data:
            response.status_code = 204
        if response.status_code == 204:
            del response.headers["Content-Type"]
            del response.headers["Content-Length"]
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Any:
        # Raised on Content-Length alone, before the body is read or parsed.
        limit = app.config["MAX_CONTENT_LENGTH"]
        message = f"The request body is larger than {limit} bytes (MAX_REQUEST_BYTES)."
        return error_body(413, message), 413

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        if isinstance(exc, HTTPException):
            return api.handle_http_exception(exc)
        logger.exception("unhandled error in %s %s", request.method, _logged_path())
        return error_body(500, "Internal error; it has been logged."), 500
