"""API keys: with API_KEYS set, nothing but /health and the docs answers without a valid key."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import api.auth
from tests.conftest import TEST_ADD_DELAY
from tests.support import AppBuilder, Service, sumflow_app

pytestmark = pytest.mark.integration

#: Two keys at once: the old one still works while clients move to the new one.
OLD_KEY, NEW_KEY = "old-4c1f0e5b9d2a7c3e", "new-9a8b7c6d5e4f3a2b"

PROTECTED = [
    ("post", "/add", {"a": 1, "b": 2}),
    ("get", "/result/0f0f", None),
    ("delete", "/tasks/0f0f", None),
    ("get", "/queues", None),
    ("get", "/retry-policies", None),
    ("get", "/no-such-path", None),
]


@pytest.fixture(scope="module")
def secured(redis_url: str) -> Iterator[Flask]:
    with sumflow_app(
        {
            "redis_url": redis_url,
            "add_delay_seconds": TEST_ADD_DELAY,
            "api_keys": (OLD_KEY, NEW_KEY),
            "rate_limit": "",
        }
    ) as app:
        yield app


@pytest.fixture
def anonymous(secured: Flask) -> FlaskClient:
    return secured.test_client()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_refused(response: Any, challenge: str) -> None:
    assert response.status_code == 401
    assert response.json["code"] == 401
    assert response.json["message"].startswith("Authorization: ")
    assert response.headers["WWW-Authenticate"] == challenge


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
def test_every_endpoint_needs_a_key(
    anonymous: FlaskClient, method: str, path: str, body: Any
) -> None:
    response = getattr(anonymous, method)(path, json=body)
    assert_refused(response, 'Bearer realm="sumflow"')


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wrong-key",
        f"Bearer {OLD_KEY[:-1]}",  # a prefix of a real key
        f"Bearer {OLD_KEY}x",  # a real key with something after it
        f"Bearer {OLD_KEY.upper()}",
    ],
)
def test_wrong_keys_are_refused(anonymous: FlaskClient, authorization: str) -> None:
    response = anonymous.post(
        "/add", json={"a": 1, "b": 2}, headers={"Authorization": authorization}
    )
    assert_refused(response, 'Bearer realm="sumflow", error="invalid_token"')


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer  ", f"Basic {OLD_KEY}", OLD_KEY])
def test_a_missing_or_malformed_header_is_refused(
    anonymous: FlaskClient, authorization: str
) -> None:
    response = anonymous.get("/queues", headers={"Authorization": authorization})
    assert_refused(response, 'Bearer realm="sumflow"')


def test_health_and_the_docs_are_open(anonymous: FlaskClient) -> None:
    assert anonymous.get("/health").status_code == 200
    assert anonymous.get("/openapi.json").status_code == 200
    assert anonymous.get("/docs").status_code == 200
    assert anonymous.get("/docs/assets/swagger-ui-bundle.js", buffered=True).status_code == 200


def test_both_keys_work_while_rotating(anonymous: FlaskClient, worker: Service) -> None:
    for key in (OLD_KEY, NEW_KEY):
        submitted = anonymous.post("/add", json={"a": 40, "b": 2}, headers=bearer(key))
        assert submitted.status_code == 202
        result = anonymous.get(f"/result/{submitted.json['task_id']}?wait=10", headers=bearer(key))
        assert result.json == {"status": "SUCCESS", "result": 42}


def test_the_scheme_is_lowercase_tolerant(anonymous: FlaskClient) -> None:
    assert (
        anonymous.get("/queues", headers={"Authorization": f"bearer {NEW_KEY}"}).status_code == 200
    )


def test_endpoints_added_later_are_covered_too(redis_url: str, build_app: AppBuilder) -> None:
    app = build_app({"redis_url": redis_url, "api_keys": (NEW_KEY,), "rate_limit": ""})
    app.add_url_rule("/later", "later", lambda: {"ok": True}, methods=["POST"])
    client = app.test_client()
    assert client.post("/later", json={}).status_code == 401
    assert client.post("/later", json={}, headers=bearer(NEW_KEY)).json == {"ok": True}


def test_every_key_is_compared_in_constant_time(
    anonymous: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = api.auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api.auth.hmac, "compare_digest", spy)
    assert anonymous.get("/queues", headers=bearer(OLD_KEY)).status_code == 200
    # The first key matched, yet the second was compared as well, digest against digest.
    assert len(compared) == 2
    assert all(len(a) == len(b) == 32 for a, b in compared)


def test_openapi_documents_the_bearer_scheme(anonymous: FlaskClient) -> None:
    spec = anonymous.get("/openapi.json").json
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert spec["security"] == [{"bearerAuth": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []


def test_without_keys_nothing_is_required(client: FlaskClient) -> None:
    assert client.get("/queues").status_code == 200
    spec = client.get("/openapi.json").json
    assert "security" not in spec
    assert "bearerAuth" in spec["components"]["securitySchemes"]
