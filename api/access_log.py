"""One log line per request, written by the app so it reads the same under any server.

The line carries the client, method, path with query, status and time taken; with
LOG_FORMAT=json each is a field of its own (config/logging_config.py).
"""

from __future__ import annotations

import logging

from flask import Request

__all__ = ["log_request"]

logger = logging.getLogger("sumflow.access")


def log_request(request: Request, status: int, seconds: float | None) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    milliseconds = None if seconds is None else round(seconds * 1000, 2)
    path = request.full_path if request.query_string else request.path
    logger.info(
        '%s "%s %s" %d %s ms',
        request.remote_addr,
        request.method,
        path,
        status,
        "-" if milliseconds is None else f"{milliseconds:.2f}",
        extra={
            "client": request.remote_addr,
            "method": request.method,
            "path": path,
            "status": status,
            "duration_ms": milliseconds,
        },
    )
