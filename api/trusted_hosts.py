"""The Host check: a request naming a host the API is not known by is refused before anything
else reads it, the defence against DNS rebinding (config/trusted_hosts.py says which names).

Flask 3.1 has a TRUSTED_HOSTS setting of its own, but it does not fit here: it raises its 400
when the view is dispatched, after every before_request hook, so a refused request would be
counted against its address's rate limit and failed-key budget (the address of a rebinding
page's visitor, who then finds the API refusing them); and werkzeug 3.1 cannot match an IPv6
address in its list (``[::1]`` is cut at its first colon).

Refused with 421 Misdirected Request, which RFC 9110 (15.5.20) gives a server to reject a
target URI that does not match an origin it has been configured for; a Host header that names
no host at all (two Host headers, which the server joins with a comma) is a 400. A request
with no Host (HTTP/1.0; the server passes it on empty) is answered: every browser sends one,
so it cannot come from a rebinding page.
"""

from __future__ import annotations

from flask import Flask, request

from api.errors import abort
from config.trusted_hosts import host_name

__all__ = ["init_trusted_hosts", "requested_host"]


def requested_host(header: str) -> str | None:
    """The host a Host header value ``host[:port]`` names, as `host_name` writes it; None if
    it names none (an IPv6 address must be in brackets, the port be 0-65535 or empty)."""
    if header.startswith("["):
        host, _, port = header.partition("]")
        host += "]"
        if port and not port.startswith(":"):
            return None
        port = port[1:]
    else:
        host, _, port = header.partition(":")
        if ":" in port:
            return None
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65535):
        return None
    return host_name(host)


def init_trusted_hosts(app: Flask, trusted: frozenset[str] | None) -> None:
    """Refuse requests whose Host names none of ``trusted`` (None: answer any). Register it
    before every other before_request hook but the timer's, so that a refused request costs
    nothing and learns nothing (not even whether its API key was right)."""
    if trusted is None:
        return

    @app.before_request
    def _require_trusted_host() -> None:
        header = request.environ.get("HTTP_HOST", "")
        if not header:
            return
        host = requested_host(header)
        if host is None:
            abort(
                400,
                message=f"The Host header {header!r} is not a host name or address with an "
                "optional port.",
            )
        if host not in trusted:
            abort(
                421,
                message=f"The Host header names {header!r}, a host this service does not "
                "answer for: a web page may be reaching it through DNS rebinding. If clients "
                "reach it by that name, add the name to TRUSTED_HOSTS.",
            )
