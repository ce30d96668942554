"""Headers that keep browsers from misreading or framing any answer of the API.

``X-Content-Type-Options: nosniff``: a browser takes each answer for the type it declares,
never sniffs a JSON body that echoes a client's text into HTML or a script. No framing
(``X-Frame-Options: DENY`` for older browsers, ``Content-Security-Policy: frame-ancestors
'none'`` for the rest): the /docs page runs Swagger UI, whose "Try it out" sends requests with
the visitor's key, and another site must not lay it out under its own buttons (clickjacking).
The policy says nothing else, so Swagger UI's scripts and styles load as before.

Every answer gets them, errors and /docs' files included: one `after_request` hook, three
header values set, no branch per path.
"""

from __future__ import annotations

from flask import Flask, Response

__all__ = ["SECURITY_HEADERS", "init_security_headers"]

SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
)


def init_security_headers(app: Flask) -> None:
    """Set `SECURITY_HEADERS` on every answer. Register it before any hook that may put a new
    answer in place of the view's (the rate limiter's): after_request hooks run last first."""

    @app.after_request
    def _secure(response: Response) -> Response:
        headers = response.headers
        for name, value in SECURITY_HEADERS:
            headers[name] = value
        return response
