"""Celery's logs in sumflow's format, and one line per message sent with its id and queue.

Celery configures the worker's and the beat's logging itself; its ``after_setup_logger`` and
``after_setup_task_logger`` signals let us swap in the JSON formatter when LOG_FORMAT=json.
``after_task_publish`` fires wherever a task is sent (the API, the beat, a retrying worker),
so each of them logs the task id and the queue it went to; in the API, the id of the request
that sent it too (api/request_id.py).

Celery 5.7's result backend logs each retry of a Redis operation ("Failed operation ...
Retrying", ``Backend._ensure_retryable``) with the whole chained traceback: a worker storing a
result through a Redis restart of about a second wrote some 1,200 lines of them.
`OneLineRetries` keeps each retry to one line that names the error.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.signals import after_setup_logger, after_setup_task_logger, after_task_publish
from celery.utils.log import get_multiprocessing_logger

from config import load_settings
from config.logging_config import REQUEST_ID, JsonFormatter, request_tag

__all__ = ["SENT", "OneLineRetries"]

#: The outcome logged for a message handed to the broker.
SENT = "SENT"

logger = logging.getLogger("sumflow.tasks")


class OneLineRetries(logging.Filter):
    """Log the backend's "Failed operation ... Retrying" warnings without their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and str(record.msg).startswith("Failed operation"):
            error = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(error).__name__}: {error})"
            record.args = None
            record.exc_info = record.exc_text = None
        return True


logging.getLogger("celery.backends.base").addFilter(OneLineRetries())


@after_setup_logger.connect
@after_setup_task_logger.connect
def _use_json_format(**kwargs: Any) -> None:
    if load_settings().log_format != "json":
        return
    configured: logging.Logger = kwargs["logger"]
    # billiard's logger ("Process ... exited with signal 9") does not propagate to the root
    # logger: Celery gives it handlers of its own, set up just before this signal.
    for logger_ in (configured, get_multiprocessing_logger()):
        for handler in logger_.handlers:
            handler.setFormatter(JsonFormatter())


@after_task_publish.connect
def _log_sent(
    sender: str | None = None, headers: Any = None, routing_key: Any = None, **_: Any
) -> None:
    task_id = (headers or {}).get("id")
    request_id = REQUEST_ID.get()  # set while the API answers the request that sends it
    logger.info(
        "task %s[%s] %s queue=%s%s",
        sender,
        task_id,
        SENT,
        routing_key,
        request_tag(request_id),
        extra={
            "task_id": task_id,
            "task_name": sender,
            "queue": routing_key,
            "outcome": SENT,
            "request_id": request_id,
        },
    )
