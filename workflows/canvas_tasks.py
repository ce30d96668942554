"""The tasks workflows add around ``sumflow.add``: a chunk of adds and a chord's total.

Thin like the add task: arguments in, a plain function from `workflows.arithmetic` out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from celery import shared_task

from workflows.arithmetic import Number, add_pairs, sum_results
from workflows.base_task import SumflowTask

__all__ = ["ADD_MANY_TASK", "SUM_ALL_TASK", "add_many", "sum_all"]

ADD_MANY_TASK = "sumflow.add_many"
SUM_ALL_TASK = "sumflow.sum_all"


@shared_task(name=ADD_MANY_TASK, bind=True, base=SumflowTask)
def add_many(
    self: SumflowTask,
    pairs: Sequence[Sequence[Number]],
    fail_times: int = 0,
    retry_policy: dict[str, Any] | None = None,
) -> list[Number]:
    """Add every pair of a chunk, in order: ``[a0 + b0, a1 + b1, ...]``.

    Each pair costs the simulated work of one add, as if the adds ran one after another.
    ``fail_times`` works as for ``sumflow.add``: each attempt of the chunk attempts every pair
    in it, so the first k attempts fail (as the first k attempts of each add would) and
    ``retry_policy`` retries the chunk as a whole.
    """
    self.simulate_work(adds=len(pairs), fail_times=fail_times)
    return add_pairs(pairs)


@shared_task(name=SUM_ALL_TASK, bind=True, base=SumflowTask)
def sum_all(self: SumflowTask, results: Sequence[Number | Sequence[Number]]) -> Number:
    """A chord's callback: the total of its header's sums (a chunk contributes a list)."""
    return sum_results(results)
