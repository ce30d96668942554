"""How workflows are laid out as Celery messages, and how a broken chain is described."""

from config import RetryPolicy, load_settings
from workflows.backend import _plain_steps, chain_abort_message, describe_exception
from workflows.canvas import build_chain, member_arguments
from workflows.celery_app import create_celery
from workflows.retry import RetriesExhausted
from workflows.submit import TaskOptions


def test_a_chain_feeds_each_sum_into_the_next_step() -> None:
    celery = create_celery(load_settings({}, redis_url="redis://127.0.0.1:1/0"))
    policy = RetryPolicy(1, 0, 0, False)
    options = TaskOptions(queue="priority", retry_policy=policy, fail_times=1)
    steps = build_chain(celery, [1, 2, 3, 4], options, ["s1", "s2", "s3"]).tasks
    assert [step.args for step in steps] == [(1, 2), (3,), (4,)]
    assert [step.id for step in steps] == ["s1", "s2", "s3"]
    assert all(step.task == "sumflow.add" for step in steps)
    assert all(step.options["queue"] == "priority" for step in steps)
    assert all(step.kwargs == {"fail_times": 1, "retry_policy": policy.as_dict()} for step in steps)


def test_members_are_one_add_per_pair_or_one_add_many_per_chunk() -> None:
    assert member_arguments([[1, 2], [3, 4]], None) == ("sumflow.add", [(1, 2), (3, 4)])
    name, chunks = member_arguments([[1, 2], [3, 4], [5, 6]], 2)
    assert name == "sumflow.add_many"
    assert chunks == [([[1, 2], [3, 4]],), ([[5, 6]],)]


def test_the_rest_of_a_chain_is_read_from_the_request() -> None:
    chain = [{"task": "sumflow.add", "options": {"task_id": f"s{i}"}} for i in (4, 3)]
    assert _plain_steps(chain) == ["s4", "s3"]
    assert _plain_steps(None) is None and _plain_steps([]) == []
    # Anything but plain task steps is left to Celery's own handling.
    assert _plain_steps([{"task": "celery.chord", "subtask_type": "chord", "options": {}}]) is None
    assert _plain_steps([{"task": "x", "options": {"task_id": "a", "chord": {}}}]) is None
    assert _plain_steps([{"task": "x", "options": {}}]) is None  # no id to end it under


def test_a_broken_chain_names_the_step_and_why() -> None:
    exc = RetriesExhausted("gave up after 1 attempt: boom")
    message = chain_abort_message("s1", describe_exception(exc))
    assert message == (
        "not run because chain step s1 failed: RetriesExhausted: gave up after 1 attempt: boom"
    )
    assert "s2 was revoked: revoked" in chain_abort_message("s2", "revoked", revoked=True)
