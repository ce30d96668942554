"""Log formats shared by the web app, the worker and the beat: plain text, or JSON lines.

As text, every process writes `TEXT_FORMAT`: the worker and the beat through Celery's
``worker_log_format`` (config.celery_config), in place of Celery's own layout.
``LOG_FORMAT=json`` makes every process write one JSON object per line, with the task id,
task name, queue and outcome as fields of their own wherever a line is about a task, so a log
pipeline can index them without parsing messages. The web app gets it through Granian's
``log_dictconfig`` (`server_logconfig`) or `configure_root_logging`; the worker and the beat
through Celery's logging signals (`workflows.log_setup`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from config.settings import Settings

__all__ = [
    "CONTEXT_FIELDS",
    "REQUEST_ID",
    "TASK_TEXT_FORMAT",
    "TEXT_FORMAT",
    "JsonFormatter",
    "configure_root_logging",
    "request_tag",
    "server_logconfig",
    "make_formatter",
]

TEXT_FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"

#: The same for Celery's task loggers (``get_task_logger``), which name the task they run.
TASK_TEXT_FORMAT = (
    "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(task_name)s[%(task_id)s]: %(message)s"
)

#: Attributes a log call may attach with ``extra=``; JSON lines carry them as fields.
CONTEXT_FIELDS = (
    "task_id",
    "task_name",
    "queue",
    "outcome",
    "runtime",
    "client",
    "method",
    "path",
    "status",
    "duration_ms",
    "request_id",
)

#: The id of the request this thread is answering (api/request_id.py): the access line and
#: the SENT line of each task the request sends name it, and JSON lines carry it as a field.
REQUEST_ID: ContextVar[str | None] = ContextVar("sumflow_request_id", default=None)


def request_tag(request_id: str | None) -> str:
    """What a text line about a request ends with: `` request=<id>``, or nothing outside one."""
    return "" if request_id is None else f" request={request_id}"


def _current_task() -> tuple[str, str] | None:
    """(id, name) of the Celery task running in this process, if any."""
    from celery._state import get_current_task

    task = get_current_task()
    if task is None or not task.request.id:
        return None
    return task.request.id, task.name


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, process, message, task context, and
    the id of the request being answered, if any.

    The task id and name come from ``extra=`` fields, else from Celery's own log arguments
    (its "Task x[id] succeeded" lines pass them as a dict), else from the task running now.
    """

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        for key in CONTEXT_FIELDS:
            value = record.__dict__.get(key)
            if value is not None:
                payload[key] = value
        if "request_id" not in payload and (request_id := REQUEST_ID.get()) is not None:
            payload["request_id"] = request_id
        if "task_id" not in payload:
            args = record.args
            if isinstance(args, Mapping) and "id" in args:
                payload["task_id"] = args["id"]
                if "name" in args:
                    payload["task_name"] = args["name"]
            elif (current := _current_task()) is not None:
                payload["task_id"], payload["task_name"] = current
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)


def make_formatter(settings: Settings) -> logging.Formatter:
    if settings.log_format == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


def _formatter_config(settings: Settings) -> dict[str, Any]:
    if settings.log_format == "json":
        return {"()": f"{__name__}.JsonFormatter"}
    return {"format": TEXT_FORMAT}


def server_logconfig(settings: Settings) -> dict[str, Any]:
    """The web server's logging config (Granian's ``log_dictconfig``): the server's own lines
    and the app's share one format.

    The root logger takes LOG_LEVEL: at INFO, the default, the app's lines (requests, a task
    sent, a Redis outage) are kept; at WARNING only problems are, and the per-request lines are
    not even built. Granian's loggers pass their lines to the root, which formats them like ours.
    """
    level = settings.log_level
    formatter = _formatter_config(settings)
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"sumflow": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "sumflow",
                "stream": "ext://sys.stderr",
            },
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "_granian": {"level": level, "handlers": [], "propagate": True},
            "granian.access": {"level": level, "handlers": [], "propagate": True},
        },
    }


def configure_root_logging(settings: Settings) -> None:
    """Give the root logger a handler in our format, unless something configured it already.

    Granian (`server_logconfig`), Celery and pytest configure logging themselves; this is
    for `flask --app api run`, where nothing else would show the app's lines at LOG_LEVEL.
    """
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(make_formatter(settings))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
