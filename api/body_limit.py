"""The request body cap (MAX_REQUEST_BYTES) for chunked bodies too: 413, never a truncation.

Flask enforces MAX_CONTENT_LENGTH against the Content-Length header. A chunked body has none;
werkzeug 3.1 then reads it only up to the limit and silently drops the rest, so an oversized body
reached the JSON parser cut short (a 400, or worse, a valid prefix). Here such a body is read
up to one byte past the limit before any view sees it: over the limit is a 413; within it,
the body is handed on as a buffering proxy would, with its real length and no longer marked
chunked. werkzeug reports no length while ``Transfer-Encoding: chunked`` stands, and the
checks that look at the length (415 for a body that is not JSON or is encoded) skipped such
bodies.
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
        if limit is None or "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            return  # no cap, or a declared length, which Flask checks itself
        body = environ["wsgi.input"].read(limit + 1)
        if len(body) > limit:
            raise RequestEntityTooLarge()
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        del environ["HTTP_TRANSFER_ENCODING"]
        # An earlier hook may have read the length (None, being chunked): werkzeug 3.1 caches
        # it in the request's __dict__ (a cached_property), so drop it to read it afresh.
        request.__dict__.pop("content_length", None)
