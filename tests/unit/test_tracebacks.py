"""drop_tracebacks: an exception and every exception chained to it let go of their frames."""

from __future__ import annotations

import pytest

from workflows.tracebacks import drop_tracebacks


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_the_exception_its_cause_and_its_context_lose_their_tracebacks() -> None:
    context, cause = _raised(KeyError("context")), _raised(OSError("cause"))
    try:
        try:
            raise context
        except KeyError:
            raise ValueError("outer") from cause
    except ValueError as outer:
        error = outer
    assert error.__context__ is context and error.__cause__ is cause

    drop_tracebacks(error)

    assert [e.__traceback__ for e in (error, cause, context)] == [None, None, None]


def test_a_chain_that_loops_back_on_itself_ends() -> None:
    first, second = _raised(ValueError("first")), _raised(ValueError("second"))
    first.__context__, second.__context__ = second, first

    drop_tracebacks(first)

    assert first.__traceback__ is None and second.__traceback__ is None


@pytest.mark.parametrize("retval", [None, 3, [1, 2], "a string"])
def test_anything_else_a_task_returns_is_left_alone(retval: object) -> None:
    drop_tracebacks(retval)  # nothing to do, and no error
