"""An id for every request, so that its access line and the tasks it sent are found together.

A web process answers many requests at once, so the SENT line of a task and the access line of
the request that sent it could only be matched by their time. Every answer carries
``X-Request-ID``, and the request's access line and each SENT line name it
(``request=<id>``; a field of its own in JSON lines). A client, or a proxy in front, may send
its own: it is kept when log lines can carry it as it is (letters, digits and ``._:=+/-``, at
most 128), so that a line break, a quote or a space cannot forge a line or a field; any other
is replaced by a new id.
"""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

from config.logging_config import REQUEST_ID

__all__ = ["HEADER", "init_app", "request_id_for"]

HEADER = "X-Request-ID"

_USABLE = re.compile(r"[A-Za-z0-9._:=+/-]{1,128}")


def request_id_for(given: str | None) -> str:
    """The client's id when log lines can carry it as it is, else a new one."""
    if given and _USABLE.fullmatch(given):
        return given
    return uuid.uuid4().hex


def init_app(app: Flask) -> None:
    """Give each request its id. Register it before hooks that may refuse a request (auth,
    rate limit), so that their answers and access lines carry one too."""

    @app.before_request
    def _assign() -> None:
        g.sumflow_request_id = request_id = request_id_for(request.headers.get(HEADER))
        g.sumflow_request_id_token = REQUEST_ID.set(request_id)

    @app.after_request
    def _answer(response: Response) -> Response:
        if (request_id := g.get("sumflow_request_id")) is not None:
            response.headers[HEADER] = request_id
        return response

    @app.teardown_request
    def _forget(_: BaseException | None) -> None:
        if (token := g.pop("sumflow_request_id_token", None)) is not None:
            REQUEST_ID.reset(token)
