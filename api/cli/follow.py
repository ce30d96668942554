"""Following work to its end: long-polling a task, polling a group with a progress callback."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from api.cli.client import ApiClient, path_segment
from api.cli.outputs import group_progress

__all__ = ["LONG_POLL_SECONDS", "READY_STATES", "follow_group", "retry_after", "wait_for_task"]

READY_STATES = frozenset({"SUCCESS", "FAILURE", "REVOKED"})

#: The longest ``?wait`` the API allows: one request per 30 s while a task runs.
LONG_POLL_SECONDS = 30

#: (pairs settled, total pairs, pairs failed): a chunked group's tasks hold many pairs each.
ProgressCallback = Callable[[int, int, int], None]


def wait_for_task(
    client: ApiClient, task_id: str, sleep: Callable[[float], None] = time.sleep
) -> dict[str, Any]:
    """``GET /result/<id>?wait=30`` until the task is done; the server answers the moment it
    is, so this costs no polling delay. A server holding all the waits it allows answers at
    once with ``Retry-After``, and is asked again only after that pause."""
    while True:
        body, headers = client.exchange(
            "GET",
            f"/result/{path_segment(task_id)}",
            params={"wait": LONG_POLL_SECONDS},
            hold=LONG_POLL_SECONDS,
        )
        if body.get("status") in READY_STATES:
            return body
        if pause := retry_after(headers.get("Retry-After")):
            sleep(pause)


#: Delta-seconds in plain ASCII digits: float() would also read "1_0" as 10, or "nan".
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def retry_after(value: str | None) -> float:
    """Seconds a ``Retry-After`` of delta-seconds asks for (0 when absent or not a number),
    at most one long poll's worth."""
    if not value or not _SECONDS.fullmatch(value):  # absent, or the HTTP-date form
        return 0.0
    return min(float(value), LONG_POLL_SECONDS)


def follow_group(
    client: ApiClient,
    group_id: str,
    on_progress: ProgressCallback,
    interval: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll ``GET /groups/<id>`` every ``interval`` s until every pair is settled."""
    while True:
        body = client.get(f"/groups/{path_segment(group_id)}")
        done, total = group_progress(body)
        on_progress(done, total, int(body.get("failed") or 0))
        if done >= total:
            return body
        sleep(interval)
