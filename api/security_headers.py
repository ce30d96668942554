"""Headers that tell browsers and caches how to treat any answer of the API: the ones the OWASP
REST Security Cheat Sheet asks of every API answer, and Referrer-Policy.

``X-Content-Type-Options: nosniff``: a browser takes each answer for the type it declares,
never sniffs a JSON body that echoes a client's text into HTML or a script. No framing
(``X-Frame-Options: DENY`` for older browsers, ``Content-Security-Policy: frame-ancestors
'none'`` for the rest): the /docs page runs Swagger UI, whose "Try it out" sends requests with
the visitor's key, and another site must not lay it out under its own buttons (clickjacking).
The policy says nothing else, so Swagger UI's scripts and styles load as before.
``Referrer-Policy: no-referrer``: the /docs page sends no address of the API on when it loads
or links elsewhere; the API reads no Referer.

``Cache-Control: no-store`` on every answer that says nothing of caching itself: task results,
schedules, keyed answers and errors change and may be private, and a shared cache or proxy
must not hand one client's answer to another, nor a browser keep it on disk. Only Swagger UI's
files under /docs/assets/ say otherwise: Flask serves them ``no-cache`` with an ETag, so a
browser keeps the same public 1.9 MB for everyone and asks whether it changed (a 304), and that
stays. /openapi.json is stored nowhere: it reflects the settings (limits, whether keys are
needed), and has no ETag to revalidate with.

``Strict-Transport-Security`` only on an answer that went over HTTPS, i.e. when Granian serves
TLS itself (TLS_CERT_FILE): RFC 6797 forbids it over plain HTTP. sumflow trusts no
X-Forwarded-Proto, so behind a proxy that terminates TLS the proxy must send it. Not for a
loopback name either (``localhost``): a browser pins a host on every port, and would send every
other local server's http:// address to https:// for the max-age. One year, the OWASP HSTS
Cheat Sheet's value; no includeSubDomains, since the API cannot know its host's subdomains.

Every answer gets them, errors and /docs' files included: one `after_request` hook.
"""

from __future__ import annotations

from flask import Flask, Response, request

from api.trusted_hosts import requested_host
from config.trusted_hosts import LOOPBACK_NAMES

__all__ = ["CACHE_CONTROL", "HSTS", "SECURITY_HEADERS", "init_security_headers"]

SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "frame-ancestors 'none'"),
    ("Referrer-Policy", "no-referrer"),
)
#: For an answer that does not say how it may be cached.
CACHE_CONTROL = ("Cache-Control", "no-store")
#: For an answer that went over HTTPS, to a name that is not a loopback one.
HSTS = ("Strict-Transport-Security", "max-age=31536000")


def _pins_https() -> bool:
    """Whether this request's answer may tell a browser to use HTTPS only for its host."""
    if request.scheme != "https":
        return False
    return requested_host(request.environ.get("HTTP_HOST", "")) not in LOOPBACK_NAMES


def init_security_headers(app: Flask) -> None:
    """Set the headers on every answer. Register it before any hook that may put a new answer
    in place of the view's (the rate limiter's): after_request hooks run last first."""

    @app.after_request
    def _secure(response: Response) -> Response:
        headers = response.headers
        for name, value in SECURITY_HEADERS:
            headers[name] = value
        headers.setdefault(*CACHE_CONTROL)
        if _pins_https():
            headers[HSTS[0]] = HSTS[1]
        return response
