"""Every answer tells browsers not to sniff its type and not to show it in a frame: the /docs
page (Swagger UI, which runs scripts) above all, but the JSON answers and errors too."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.support import sumflow_app

UNREACHABLE = "redis://127.0.0.1:1/0"  # answers that need Redis are 503s: those are checked too

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "frame-ancestors 'none'",
}


KEY = "k" * 32
WITH_KEY = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def client() -> Iterator[FlaskClient]:
    # No AUTH_FAILURE_LIMIT: without Redis, a failure could not be counted (503, not 401).
    config = {"redis_url": UNREACHABLE, "api_keys": (KEY,), "auth_failure_limit": ""}
    with sumflow_app(config) as app:
        yield app.test_client()


def assert_protected(response: object, what: str) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    assert {name: headers.get(name) for name in HEADERS} == HEADERS, what


def test_the_docs_page_and_every_asset_it_loads(client: FlaskClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert_protected(page, "/docs")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) == 3
    for asset in assets:
        response = client.get(asset, buffered=True)  # buffered: the file is closed
        assert response.status_code == 200, asset
        assert_protected(response, asset)
    assert_protected(client.get("/openapi.json"), "/openapi.json")


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("get", "/retry-policies", WITH_KEY, 200),
        ("get", "/queues", {}, 401),  # refused by a before_request hook
        ("get", "/queues", WITH_KEY, 503),  # an error handler
        ("get", "/no-such-path", WITH_KEY, 404),
        ("put", "/retry-policies", WITH_KEY, 405),
        ("options", "/retry-policies", WITH_KEY, 204),
        ("get", "/health", {}, 503),
    ],
)
def test_every_answer_carries_them(
    client: FlaskClient, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = getattr(client, method)(path, headers=headers)
    assert response.status_code == status
    assert_protected(response, f"{method} {path}")


def readme_answers() -> list[str]:
    """The header blocks of the answers the README shows with ``curl -i``, status line first."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    return re.findall(r"^HTTP/1\.1 .*?(?=\n\n)", readme, flags=re.MULTILINE | re.DOTALL)


def test_the_readme_shows_them_on_every_answer_it_shows_in_full() -> None:
    # The README's `curl -i` answers are its real output: they show what every answer carries.
    answers = readme_answers()
    assert len(answers) >= 10
    for answer in answers:
        shown = dict(line.split(": ", 1) for line in answer.splitlines()[1:])
        assert {name: shown.get(name.lower()) for name in HEADERS} == HEADERS, answer
