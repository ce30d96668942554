"""The CLI's long poll: it asks again at once after a wait, and pauses when told to."""

from __future__ import annotations

import httpx
import pytest

from api.cli.client import ApiClient
from api.cli.follow import retry_after, wait_for_task

PENDING = {"status": "PENDING", "result": None}
DONE = {"status": "SUCCESS", "result": 8}


def client_answering(*answers: httpx.Response) -> tuple[ApiClient, list[httpx.Request]]:
    sent: list[httpx.Request] = []
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return queue.pop(0)

    return ApiClient("http://sumflow.test", transport=httpx.MockTransport(handle)), sent


def test_a_busy_server_is_asked_again_after_its_retry_after() -> None:
    client, sent = client_answering(
        httpx.Response(200, json=PENDING, headers={"Retry-After": "1"}),
        httpx.Response(200, json=PENDING),  # a wait that ran out: ask again at once
        httpx.Response(200, json=DONE),
    )
    pauses: list[float] = []

    assert wait_for_task(client, "t-1", sleep=pauses.append) == DONE
    assert pauses == [1.0]
    assert [r.url.params["wait"] for r in sent] == ["30", "30", "30"]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 0),
        ("1", 1),
        ("2.5", 2.5),
        ("0", 0),
        ("-3", 0),
        ("nan", 0),
        ("3600", 30),
        ("Wed, 21 Oct 2026 07:28:00 GMT", 0),
        ("1_0", 0),
        ("\u0663", 0),
        ("inf", 0),
    ],
)
def test_retry_after_is_read_as_bounded_seconds(value: str | None, seconds: float) -> None:
    assert retry_after(value) == seconds
