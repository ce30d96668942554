"""How stored task records and validation errors are shown to clients."""

from api.errors import _flatten
from workflows.results import present


def test_pending_started_success() -> None:
    assert present(None).status == "PENDING" and present(None).result is None
    assert present({"status": "STARTED", "result": {"pid": 1}}).result is None
    assert present({"status": "SUCCESS", "result": 8}).result == 8


def test_errors_read_as_type_and_message() -> None:
    meta = {
        "status": "FAILURE",
        "result": {"exc_type": "RetriesExhausted", "exc_message": ["gave up"], "exc_module": "x"},
    }
    assert present(meta).result == "RetriesExhausted: gave up"
    assert present(meta).ready


def test_an_error_with_several_arguments_or_none_reads_cleanly() -> None:
    several = {"exc_type": "KeyError", "exc_message": ["a", 2], "exc_module": "builtins"}
    assert present({"status": "FAILURE", "result": several}).result == "KeyError: a, 2"
    bare = {"exc_type": "TimeoutError", "exc_message": [], "exc_module": "builtins"}
    assert present({"status": "FAILURE", "result": bare}).result == "TimeoutError"


def test_validation_errors_name_their_fields() -> None:
    errors = {"json": {"a": ["Bad."], "retry_policy": {"backoff": ["Too big."]}}}
    assert _flatten(errors) == ["a: Bad.", "retry_policy.backoff: Too big."]
    assert _flatten({"json": {"_schema": ["Invalid input type."]}}) == ["body: Invalid input type."]
