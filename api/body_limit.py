"""The request body cap (MAX_REQUEST_BYTES) for chunked bodies too: 413, never a truncation.

Flask enforces MAX_CONTENT_LENGTH against the Content-Length header. A chunked body has none;
werkzeug then reads it only up to the limit and silently drops the rest, so an oversized body
reached the JSON parser cut short (a 400, or worse, a valid prefix). Here such a body is read
up to one byte past the limit before any view sees it: over the limit is a 413; within it,
the body is handed on with its real length.
"""

from __future__ import annotations

import io

from flask import Flask, request
from werkzeug.exceptions import RequestEntityTooLarge

__all__ = ["init_body_limit"]


def init_body_limit(app: Flask) -> None:
    @app.before_request
    def _bound_streamed_body() -> None:
        limit = app.config.get("MAX_CONTENT_LENGTH")
        environ = request.environ
        if limit is None or request.content_length is not None:
            return  # no cap, or Flask checks the declared length itself
        if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return
        body = environ["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            raise RequestEntityTooLarge()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
