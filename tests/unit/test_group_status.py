"""Assembling a group's status and per-pair results from its members' result records."""

from typing import Any

from workflows.groups import GroupRecord, summarize

OK = "SUCCESS"


def meta(status: str, result: Any = None) -> dict[str, Any]:
    return {"status": status, "result": result}


def failure(message: str) -> dict[str, Any]:
    return meta("FAILURE", {"exc_type": "RetriesExhausted", "exc_message": [message]})


def test_a_record_round_trips_through_its_encoding() -> None:
    record = GroupRecord(["a", "b"], 3, 2, "chord")
    assert GroupRecord.decode(record.encode()) == record
    assert GroupRecord.decode(GroupRecord(["x"], 1).encode()).chunk_size is None


def test_nothing_started_is_pending_with_null_results() -> None:
    view = summarize(GroupRecord(["a", "b"], 2), [None, None])
    assert (view.status, view.completed, view.failed) == ("PENDING", 0, 0)
    assert view.results == [None, None] and view.errors == []


def test_some_work_done_or_running_is_started() -> None:
    assert summarize(GroupRecord(["a", "b"], 2), [meta(OK, 3), None]).status == "STARTED"
    assert summarize(GroupRecord(["a", "b"], 2), [meta("STARTED"), None]).status == "STARTED"
    assert summarize(GroupRecord(["a", "b"], 2), [meta("RETRY", {}), None]).status == "STARTED"
    partial = summarize(GroupRecord(["a", "b"], 2), [failure("x"), None])
    assert partial.status == "STARTED" and partial.failed == 1


def test_all_done_is_success_partial_or_failure() -> None:
    record = GroupRecord(["a", "b"], 2)
    assert summarize(record, [meta(OK, 3), meta(OK, 7)]).status == "SUCCESS"
    mixed = summarize(record, [meta(OK, 3), failure("boom")])
    assert (mixed.status, mixed.completed, mixed.failed) == ("PARTIAL", 1, 1)
    assert mixed.results == [3, None]
    assert mixed.errors[0].task_id == "b" and mixed.errors[0].index == 1
    assert mixed.errors[0].message == "RetriesExhausted: boom"
    revoked = meta("REVOKED", {"exc_type": "TaskRevokedError", "exc_message": ["revoked"]})
    assert summarize(record, [failure("x"), revoked]).status == "FAILURE"


def test_chunk_results_expand_to_pairs_in_order() -> None:
    record = GroupRecord(["c0", "c1", "c2"], 5, chunk_size=2)
    view = summarize(record, [meta(OK, [1, 2]), None, meta(OK, [5])])
    assert view.results == [1, 2, None, None, 5]
    assert (view.status, view.completed) == ("STARTED", 3)


def test_a_failed_chunk_fails_all_its_pairs() -> None:
    record = GroupRecord(["c0", "c1"], 3, chunk_size=2)
    view = summarize(record, [failure("gave up"), meta(OK, [9])])
    assert (view.status, view.completed, view.failed) == ("PARTIAL", 1, 2)
    assert view.results == [None, None, 9]
    assert (view.errors[0].index, view.errors[0].count) == (0, 2)


def test_a_chunk_result_of_the_wrong_shape_is_an_error_not_a_crash() -> None:
    record = GroupRecord(["c0"], 2, chunk_size=2)
    view = summarize(record, [meta(OK, [1])])
    assert view.status == "FAILURE" and view.results == [None, None]
    assert "unexpected result for 2 pairs" in view.errors[0].message
    # Whatever the member stored, the message quotes only the start of it.
    huge = summarize(record, [meta(OK, list(range(10_000)))])
    assert huge.errors[0].message.startswith("unexpected result for 2 pairs: [0, 1, 2")
    assert len(huge.errors[0].message) == 200
