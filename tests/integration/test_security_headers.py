"""The security headers survive the answers that hooks put in place of a view's (see
tests/unit/test_security_headers.py for the rest)."""

from __future__ import annotations

import uuid

import pytest

from api.security_headers import CACHE_CONTROL, SECURITY_HEADERS
from tests.support import AppBuilder

pytestmark = pytest.mark.integration


def test_a_429_put_in_place_of_the_views_answer_keeps_them(
    redis_url: str, build_app: AppBuilder
) -> None:
    # An add that publishes nothing (bad input) is counted after its view; over the budget, the
    # rate limiter's after_request hook answers a new 429 instead of the view's 422.
    client = build_app({"redis_url": redis_url, "rate_limit": "1/day"}).test_client()
    address = {"REMOTE_ADDR": "10." + ".".join(str(b) for b in uuid.uuid4().bytes[:3])}
    bad = {"a": "one", "b": 2}
    first, second = (client.post("/add", json=bad, environ_base=address) for _ in range(2))
    assert (first.status_code, second.status_code) == (422, 429)
    expected = [*SECURITY_HEADERS, CACHE_CONTROL]
    for response in (first, second):
        assert [(name, response.headers.get(name)) for name, _ in expected] == expected
