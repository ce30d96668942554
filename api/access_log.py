"""One log line per request, written by the app so it reads the same under any server.

The line carries the client, method, path with query, status, time taken and the request's
id (api/request_id.py); with LOG_FORMAT=json each is a field of its own
(config/logging_config.py). It is built from the raw WSGI environ: werkzeug's
``request.full_path`` re-quotes the URL on every call, which made this line cost twice what a
task's log line does.
"""

from __future__ import annotations

import logging
from typing import Any

from config.logging_config import REQUEST_ID, request_tag

__all__ = ["log_request", "readable_path"]

logger = logging.getLogger("sumflow.access")


def readable_path(environ: dict[str, Any]) -> str:
    """The path and query as a person reads them, never more than one line.

    WSGI hands the path over decoded as latin-1, so UTF-8 is decoded here (``/result/café``,
    not ``cafÃ©``), and control characters are escaped: ``/x%0Ay`` would otherwise write a
    line break into the log, and let a client forge a line of its own. Quotes and backslashes
    are escaped too (``\\"``, ``\\\\``), as Apache does: a path of ``/x" 200 1.00 ms`` ended the
    line's quoted request early and forged its status for whatever read the line.
    """
    path = environ.get("PATH_INFO", "")
    if query := environ.get("QUERY_STRING"):
        path = f"{path}?{query}"
    if path.isascii() and path.isprintable() and '"' not in path and "\\" not in path:
        return path  # nearly every request
    path = path.replace("\\", "\\\\").replace('"', '\\"')  # ASCII: in no UTF-8 sequence
    text = path.encode("latin-1", "replace").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def log_request(environ: dict[str, Any], status: int, seconds: float | None) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    path = readable_path(environ)
    client = environ.get("REMOTE_ADDR")
    method = environ.get("REQUEST_METHOD")
    milliseconds = None if seconds is None else round(seconds * 1000, 2)
    request_id = REQUEST_ID.get()
    logger.info(
        '%s "%s %s" %d %s ms%s',
        client,
        method,
        path,
        status,
        "-" if milliseconds is None else f"{milliseconds:.2f}",
        request_tag(request_id),
        extra={
            "client": client,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": milliseconds,
            "request_id": request_id,
        },
    )
