"""The OpenAPI document names the error answers that layers outside the views give."""

from __future__ import annotations

import re
from typing import Any

from api import create_app

UNREACHABLE = "redis://127.0.0.1:1/0"  # building the document needs no Redis


def document(**settings: Any) -> dict[str, Any]:
    app = create_app({"redis_url": UNREACHABLE, **settings})
    return app.test_client().get("/openapi.json").json


def statuses(doc: dict[str, Any], method: str, path: str) -> set[str]:
    return set(doc["paths"][path][method]["responses"])


def test_a_submission_documents_every_answer_it_can_get() -> None:
    # Without AUTH_FAILURE_LIMIT, so that reads answer no 429 (see the test below).
    doc = document(api_keys=("k1",), rate_limit="10/second", auth_failure_limit="")
    responses = doc["paths"]["/add"]["post"]["responses"]
    assert {"400", "401", "413", "415", "429", "503"} <= set(responses)
    error = {"$ref": "#/components/schemas/Error"}
    for status in ("400", "401", "413", "415", "429", "503"):
        assert responses[status]["content"]["application/json"]["schema"] == error, status
    for status in ("429", "503"):
        assert "Retry-After" in responses[status]["headers"], status
    # A view's own description of a status wins: /health words its 503 itself, and is open.
    health = doc["paths"]["/health"]["get"]["responses"]
    assert health["503"]["description"] == "Redis does not answer, or refuses writes."
    assert "401" not in health
    # Reads have no body and are not rate limited; /metrics answers while Redis is down.
    assert statuses(doc, "get", "/result/{task_id}") >= {"401", "503"}
    assert not statuses(doc, "get", "/result/{task_id}") & {"400", "413", "415", "429"}
    assert "503" not in statuses(doc, "get", "/metrics")
    assert statuses(doc, "patch", "/schedules/{name}") >= {"400", "413", "415", "503"}


def test_every_operation_behind_a_key_documents_the_429_of_failed_keys() -> None:
    doc = document(api_keys=("k1",), rate_limit="10/second", auth_failure_limit="20/minute")
    reads = doc["paths"]["/result/{task_id}"]["get"]["responses"]
    assert reads["429"]["description"] == (
        "Too many failed API keys from its address (AUTH_FAILURE_LIMIT)."
    )
    assert "Retry-After" in reads["429"]["headers"]
    submissions = doc["paths"]["/add"]["post"]["responses"]
    assert submissions["429"]["description"] == (
        "Over RATE_LIMIT for this client. "
        "Too many failed API keys from its address (AUTH_FAILURE_LIMIT)."
    )
    # A wrong key is counted, in Redis, even where the answer needs no Redis.
    assert "503: it cannot be counted" in reads["401"]["description"]
    assert "429" not in doc["paths"]["/health"]["get"]["responses"]
    # Without keys there is nothing to fail.
    assert "429" not in document(rate_limit="")["paths"]["/queues"]["get"]["responses"]


def test_without_keys_or_limits_there_is_no_401_or_429() -> None:
    doc = document(api_keys=(), rate_limit="")
    every = {
        status
        for path in doc["paths"].values()
        for method, operation in path.items()
        if method != "parameters"
        for status in operation["responses"]
    }
    assert not every & {"401", "429"}
    assert "503" in every


def test_chunk_size_may_be_sent_as_null_as_it_is_answered() -> None:
    schemas = document()["components"]["schemas"]
    for name in ("GroupRequest", "ChordRequest", "GroupAccepted", "ChordAccepted"):
        assert schemas[name]["properties"]["chunk_size"]["nullable"] is True, name


def test_the_docs_page_loads_swagger_ui_from_the_service_itself() -> None:
    client = create_app({"redis_url": UNREACHABLE}).test_client()
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    # Nothing from another origin: /docs works offline and under a same-origin CSP.
    assert sorted(assets) == [
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui-standalone-preset.js",
        "/docs/assets/swagger-ui.css",
    ]
    served = {asset: client.get(asset, buffered=True) for asset in assets}  # buffered: closed
    assert [response.status_code for response in served.values()] == [200, 200, 200]
    assert served["/docs/assets/swagger-ui.css"].mimetype == "text/css"
    assert b"SwaggerUIBundle" in served["/docs/assets/swagger-ui-bundle.js"].data
    assert client.get("/docs/assets/no-such-file.js").status_code == 404


def test_a_schedules_expires_after_is_documented_as_optional_nullable_whole_seconds() -> None:
    schemas = document()["components"]["schemas"]
    for name in ("ScheduleCreate", "ScheduleUpdate"):
        field = schemas[name]["properties"]["expires_after"]
        assert (field["type"], field["minimum"], field["maximum"]) == ("integer", 1, 31_622_400)
        assert field["nullable"] is True, name
        assert "expires_after" not in schemas[name].get("required", []), name
    answered = schemas["Schedule"]
    assert answered["properties"]["expires_after"]["nullable"] is True
    assert "expires_after" in answered["required"]


def test_every_operation_documents_the_421_of_a_host_it_does_not_answer_for() -> None:
    def with_421(doc: dict[str, Any]) -> set[tuple[str, str]]:
        return {
            (path, method)
            for path, operations in doc["paths"].items()
            for method, operation in operations.items()
            if method != "parameters" and "421" in operation["responses"]
        }

    doc = document()  # HOST 127.0.0.1: the loopback names only
    operations = {
        (path, method)
        for path, methods in doc["paths"].items()
        for method in methods
        if method != "parameters"
    }
    assert with_421(doc) == operations
    assert "TRUSTED_HOSTS" in doc["paths"]["/add"]["post"]["responses"]["421"]["description"]
    assert with_421(document(host="0.0.0.0")) == set()  # any host
    assert with_421(document(trusted_hosts=("*",))) == set()
