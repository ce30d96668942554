"""Every answer tells browsers not to sniff its type, not to show it in a frame and not to
send its address on; every answer that says nothing of caching is kept by no cache; and an
HTTPS answer tells browsers to use nothing but HTTPS for its host."""

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
    "Referrer-Policy": "no-referrer",
}
NOT_STORED = {**HEADERS, "Cache-Control": "no-store"}
HSTS = "Strict-Transport-Security"


KEY = "k" * 32
WITH_KEY = {"Authorization": f"Bearer {KEY}"}
NAME = "api.example"  # a name the API is known by (TRUSTED_HOSTS), not a loopback one


@pytest.fixture(scope="module")
def client() -> Iterator[FlaskClient]:
    # No AUTH_FAILURE_LIMIT: without Redis, a failure could not be counted (503, not 401).
    config = {
        "redis_url": UNREACHABLE,
        "api_keys": (KEY,),
        "auth_failure_limit": "",
        "trusted_hosts": (NAME,),
    }
    with sumflow_app(config) as app:
        yield app.test_client()


def shown(response: object, expected: dict[str, str]) -> dict[str, str | None]:
    headers = response.headers  # type: ignore[attr-defined]
    return {name: headers.get(name) for name in expected}


def test_the_docs_page_and_the_document_are_not_stored(client: FlaskClient) -> None:
    for path in ("/docs", "/openapi.json"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert shown(response, NOT_STORED) == NOT_STORED, path


def test_swagger_uis_files_stay_revalidated_rather_than_fetched_again(
    client: FlaskClient,
) -> None:
    # The same public files for everyone, 1.9 MB: Flask's `no-cache` with an ETag lets a
    # browser keep them and ask whether they changed (a 304 without the body), not no-store.
    page = client.get("/docs")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) == 3
    for asset in assets:
        response = client.get(asset, buffered=True)  # buffered: the file is closed
        assert response.status_code == 200, asset
        assert shown(response, HEADERS) == HEADERS, asset
        assert response.headers["Cache-Control"] == "no-cache", asset
        etag = {"If-None-Match": response.headers["ETag"]}
        again = client.get(asset, headers=etag, buffered=True)
        assert (again.status_code, again.data) == (304, b""), asset
        assert shown(again, HEADERS) == HEADERS, asset


ANSWERS = [
    ("get", "/retry-policies", WITH_KEY, 200),
    ("get", "/queues", {}, 401),  # refused by a before_request hook
    ("get", "/queues", WITH_KEY, 503),  # an error handler
    ("get", "/no-such-path", WITH_KEY, 404),
    ("put", "/retry-policies", WITH_KEY, 405),
    ("options", "/retry-policies", WITH_KEY, 204),
    ("get", "/health", {}, 503),
]


@pytest.mark.parametrize(("method", "path", "headers", "status"), ANSWERS)
def test_every_answer_carries_them(
    client: FlaskClient, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = getattr(client, method)(path, headers=headers)
    assert response.status_code == status
    assert shown(response, NOT_STORED) == NOT_STORED, f"{method} {path}"
    assert HSTS not in response.headers  # plain HTTP: RFC 6797 forbids it there


@pytest.mark.parametrize(("method", "path", "headers", "status"), ANSWERS)
def test_every_https_answer_keeps_browsers_on_https(
    client: FlaskClient, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    response = getattr(client, method)(path, headers=headers, base_url=f"https://{NAME}")
    assert response.status_code == status
    assert response.headers.get(HSTS) == "max-age=31536000"
    assert shown(response, NOT_STORED) == NOT_STORED


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:5000", "127.0.0.1:5000", "[::1]"])
def test_no_https_pin_for_a_loopback_name(client: FlaskClient, host: str) -> None:
    # A browser applies HSTS to a host on every port: pinning `localhost` would send every
    # other local development server's http:// address to https:// for a year.
    response = client.get("/retry-policies", headers=WITH_KEY, base_url=f"https://{host}")
    assert response.status_code == 200
    assert HSTS not in response.headers


def readme_answers() -> list[str]:
    """The header blocks of the answers the README shows with ``curl -i``, status line first."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    return re.findall(r"^HTTP/1\.1 .*?(?=\n\n)", readme, flags=re.MULTILINE | re.DOTALL)


def test_the_readme_shows_them_on_every_answer_it_shows_in_full() -> None:
    # The README's `curl -i` answers are its real output: they show what every answer carries
    # (over plain HTTP, as `make run` serves it: no HSTS).
    answers = readme_answers()
    assert len(answers) >= 10
    for answer in answers:
        headers = dict(line.split(": ", 1) for line in answer.splitlines()[1:])
        assert {name: headers.get(name.lower()) for name in NOT_STORED} == NOT_STORED, answer
        assert HSTS.lower() not in headers, answer
