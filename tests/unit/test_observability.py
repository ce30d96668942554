"""Metrics labels, the health verdict, the access log line and the log formats."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from flask import Flask, request

from api.access_log import log_request, readable_path
from api.health import assess
from api.instrumentation import endpoint_label
from config import load_settings
from config.logging_config import JsonFormatter, make_formatter, server_logconfig
from config.settings import ConfigError
from schedules.beat_status import LOCK_KEY, SCHEDULE_KEY, BeatStatus

QUEUES = ("default", "priority")
BEAT_UP = BeatStatus(alive=True, lock_ttl_seconds=8.5, schedules=2)
BEAT_DOWN = BeatStatus(alive=False, lock_ttl_seconds=None, schedules=2)


@pytest.mark.parametrize(
    ("rule", "label"),
    [
        ("/add", "/add"),
        ("/result/<string:task_id>", "/result/<task_id>"),
        ("/schedules/<name>/runs", "/schedules/<name>/runs"),
        ("/groups/<path:group_id>", "/groups/<group_id>"),
        (None, "unmatched"),
    ],
)
def test_endpoint_label_is_the_route_without_converters(rule: str | None, label: str) -> None:
    assert endpoint_label(rule) == label


def test_redbeat_keys_follow_our_prefix() -> None:
    assert LOCK_KEY == "sumflow:redbeat::lock"
    assert SCHEDULE_KEY == "sumflow:redbeat::schedule"


def test_all_well_is_not_degraded() -> None:
    verdict = assess(QUEUES, {"w1@h": ["default"], "w2@h": ["priority"]}, BEAT_UP)
    assert verdict["checks"] == {"redis": "ok", "workers": "ok", "beat": "ok", "settings": "ok"}
    assert verdict["degraded"] is False
    assert verdict["problems"] == []
    assert verdict["beat"] == {"status": "ok", "lock_ttl_seconds": 8.5}


def test_no_worker_at_all_is_down() -> None:
    verdict = assess(QUEUES, {}, BEAT_UP)
    assert verdict["checks"]["workers"] == "down"
    assert verdict["degraded"] is True
    assert verdict["problems"] == ["No worker answered: submitted work waits in its queue."]


def test_a_queue_without_worker_is_partial_and_named() -> None:
    verdict = assess(QUEUES, {"w1@h": ["default"]}, BEAT_UP)
    assert verdict["checks"]["workers"] == "partial"
    assert verdict["degraded"] is True
    assert verdict["problems"] == ["No worker consumes queue 'priority'."]


def test_no_beat_is_down_and_named() -> None:
    verdict = assess(QUEUES, {"w1@h": ["default", "priority"]}, BEAT_DOWN)
    assert verdict["checks"]["beat"] == "down"
    assert verdict["beat"] == {"status": "down", "lock_ttl_seconds": None}
    assert verdict["degraded"] is True
    assert "No beat holds RedBeat's lock" in verdict["problems"][0]


def test_a_setting_a_worker_holds_otherwise_is_a_problem() -> None:
    differing = ["VISIBILITY_TIMEOUT_SECONDS is 20 on worker w1@h but 600 here: ..."]
    verdict = assess(QUEUES, {"w1@h": ["default", "priority"]}, BEAT_UP, differing)
    assert verdict["checks"]["settings"] == "differ"
    assert verdict["degraded"] is True
    assert verdict["problems"] == differing


def _record(msg: str, args: object = None, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("sumflow.tasks", logging.INFO, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_json_lines_carry_task_fields_given_as_extra() -> None:
    record = _record(
        "task %s[%s] %s queue=%s",
        ("sumflow.add", "id-1", "SUCCESS", "default"),
        task_id="id-1",
        task_name="sumflow.add",
        queue="default",
        outcome="SUCCESS",
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    payload = json.loads(line)
    assert payload["message"] == "task sumflow.add[id-1] SUCCESS queue=default"
    assert payload["level"] == "INFO"
    assert payload["logger"] == "sumflow.tasks"
    assert (payload["task_id"], payload["queue"], payload["outcome"]) == (
        "id-1",
        "default",
        "SUCCESS",
    )


def test_json_lines_take_the_task_id_from_celerys_own_log_arguments() -> None:
    # Celery logs "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s".
    args = {"id": "id-2", "name": "sumflow.add", "runtime": 0.2, "return_value": "8"}
    record = _record("Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s", args)
    payload = json.loads(JsonFormatter().format(record))
    assert payload["task_id"] == "id-2"
    assert payload["task_name"] == "sumflow.add"
    assert payload["message"] == "Task sumflow.add[id-2] succeeded in 0.2s: 8"


def test_json_lines_keep_the_traceback_in_one_field() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    payload = json.loads(JsonFormatter().format(record))
    assert "RuntimeError: boom" in payload["exc_info"]


def test_log_format_is_chosen_by_settings() -> None:
    assert isinstance(make_formatter(load_settings({"LOG_FORMAT": "json"})), JsonFormatter)
    assert not isinstance(make_formatter(load_settings({})), JsonFormatter)
    config = server_logconfig(load_settings({"LOG_FORMAT": "JSON"}))
    assert config["formatters"]["sumflow"] == {"()": "config.logging_config.JsonFormatter"}
    assert config["root"]["level"] == "INFO"


def test_unknown_log_format_is_refused() -> None:
    with pytest.raises(ConfigError, match="LOG_FORMAT must be one of text, json"):
        load_settings({"LOG_FORMAT": "xml"})


def test_log_level_is_chosen_by_settings_for_the_server_and_the_app() -> None:
    assert load_settings({}).log_level == "INFO"
    config = server_logconfig(load_settings({"LOG_LEVEL": "warning"}))
    levels = {name: logger["level"] for name, logger in config["loggers"].items()}
    assert config["root"]["level"] == "WARNING"
    assert levels == {"_granian": "WARNING", "granian.access": "WARNING"}


def test_unknown_log_level_is_refused() -> None:
    with pytest.raises(ConfigError, match="LOG_LEVEL must be one of DEBUG, INFO, WARNING"):
        load_settings({"LOG_LEVEL": "loud"})


def test_each_request_is_logged_once_with_its_fields(caplog: pytest.LogCaptureFixture) -> None:
    app = Flask(__name__)
    environ = {"REMOTE_ADDR": "10.0.0.7"}
    with caplog.at_level(logging.INFO, logger="sumflow.access"):
        with app.test_request_context("/result/abc?wait=5", environ_base=environ):
            log_request(request.environ, 200, 0.01234)
        with app.test_request_context("/add", method="POST", environ_base=environ):
            log_request(request.environ, 202, None)
    first, second = caplog.records
    assert first.getMessage() == '10.0.0.7 "GET /result/abc?wait=5" 200 12.34 ms'
    payload = json.loads(JsonFormatter().format(first))
    assert {k: payload[k] for k in ("client", "method", "path", "status", "duration_ms")} == {
        "client": "10.0.0.7",
        "method": "GET",
        "path": "/result/abc?wait=5",
        "status": 200,
        "duration_ms": 12.34,
    }
    assert second.getMessage() == '10.0.0.7 "POST /add" 202 - ms'


@pytest.mark.parametrize(
    ("path", "query", "logged"),
    [
        ("/result/abc", "wait=5", "/result/abc?wait=5"),
        # A line break (%0A) or any control character cannot start a forged log line.
        ("/result/x\ny", "", "/result/x\\ny"),
        (
            "/result/x",
            'a=1\r\n127.0.0.1 "GET /" 200',
            '/result/x?a=1\\r\\n127.0.0.1 \\"GET /\\" 200',
        ),
        # Nor can a quote end the quoted request early to forge its status: '"GET /x" 200 ...'.
        ('/x" 200 1.00 ms', "", '/x\\" 200 1.00 ms'),
        ("/result/x", 'a="b"', '/result/x?a=\\"b\\"'),
        # A backslash is escaped too, so that '\\n' in a line is always an escaped line break.
        ("/result/x\\ny", "", "/result/x\\\\ny"),
        ("/result/\x1b[31mred", "", "/result/\\x1b[31mred"),
        # WSGI's latin-1 path read as the UTF-8 it is; bytes that are not UTF-8 are escaped.
        ("/result/caf\u00c3\u00a9", "", "/result/caf\u00e9"),
        ("/result/\u00ff", "", "/result/\\xff"),
    ],
)
def test_the_logged_path_is_one_readable_line(path: str, query: str, logged: str) -> None:
    assert readable_path({"PATH_INFO": path, "QUERY_STRING": query}) == logged


def test_a_result_backend_retry_is_one_line_naming_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Celery logs each retry with the whole chained traceback, over a hundred lines each time."""
    import workflows.log_setup  # noqa: F401  (installs the filter)

    backend_logger = logging.getLogger("celery.backends.base")
    try:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
    except ConnectionError:
        with caplog.at_level(logging.WARNING, logger="celery.backends.base"):
            backend_logger.warning(
                "Failed operation %s. Retrying %s more times.", "_store_result", 19, exc_info=True
            )
    (record,) = caplog.records
    assert record.getMessage() == (
        "Failed operation _store_result. Retrying 19 more times. "
        "(ConnectionError: Error 111 connecting to 127.0.0.1:6390. Connection refused.)"
    )
    assert record.exc_info is None and "Traceback" not in caplog.text
