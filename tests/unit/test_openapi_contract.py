"""The OpenAPI document says what /work/shared/API.md (the contract) says, point by point.

Each test names the contract lines it pins: paths, methods, success codes, field names, the
headers promised, and the ranges the contract sends readers to the schema for. The live
behaviour behind each point is pinned by the integration tests; this checks the document.
"""

from __future__ import annotations

from typing import Any

import pytest

from api import create_app

UNREACHABLE = "redis://127.0.0.1:1/0"  # building the document needs no Redis
OPERAND_LIMIT = 9223372036854775807  # the documented operand range, as the 422s word it


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return create_app({"redis_url": UNREACHABLE}).test_client().get("/openapi.json").json


def schema(doc: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    name = ref["$ref"].rsplit("/", 1)[-1]
    return doc["components"]["schemas"][name]


def answer(doc: dict[str, Any], method: str, path: str, status: str) -> dict[str, Any]:
    return doc["paths"][path][method]["responses"][status]


def answered(doc: dict[str, Any], method: str, path: str, status: str) -> dict[str, Any]:
    """The JSON schema of one documented answer."""
    content = answer(doc, method, path, status)["content"]["application/json"]
    return schema(doc, content["schema"])


def body(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    request = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
    return schema(doc, request["schema"])


def query(doc: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    (found,) = [p for p in doc["paths"][path][method]["parameters"] if p["name"] == name]
    assert found["in"] == "query"
    return found["schema"]


# Every path, method and status code the contract names.
CONTRACT_ANSWERS = [
    ("post", "/add", {"202", "422"}),
    ("get", "/result/{task_id}", {"200", "404"}),
    ("delete", "/tasks/{task_id}", {"202"}),
    ("post", "/chains", {"202", "422"}),
    ("post", "/groups", {"202", "422"}),
    ("get", "/groups/{group_id}", {"200", "404"}),
    ("post", "/chords", {"202", "422"}),
    ("get", "/retry-policies", {"200"}),
    ("get", "/queues", {"200"}),
    ("post", "/schedules", {"201", "409", "422"}),
    ("get", "/schedules", {"200"}),
    ("get", "/schedules/{name}", {"200", "404"}),
    ("patch", "/schedules/{name}", {"200"}),
    ("delete", "/schedules/{name}", {"204"}),
    ("get", "/schedules/{name}/runs", {"200"}),
    ("get", "/health", {"200", "503"}),
]


@pytest.mark.parametrize(("method", "path", "codes"), CONTRACT_ANSWERS)
def test_every_endpoint_of_the_contract_documents_its_status_codes(
    doc: dict[str, Any], method: str, path: str, codes: set[str]
) -> None:
    assert codes <= set(doc["paths"][path][method]["responses"])


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("post", "/add", "202"),
        ("post", "/add", "200"),  # Prefer: wait answered in time: still located
        ("post", "/chains", "202"),
        ("post", "/groups", "202"),
        ("post", "/chords", "202"),
        ("post", "/schedules", "201"),
    ],
)
def test_the_location_of_each_accepted_submission_is_documented(
    doc: dict[str, Any], method: str, path: str, status: str
) -> None:
    # API.md: POST /add → 202 {"task_id"} "and a Location header to its result". Every
    # submission sends one; the document says so, so generated clients can follow it.
    headers = answer(doc, method, path, status).get("headers", {})
    assert headers["Location"]["schema"] == {"type": "string"}, (path, status)


def test_add_takes_the_contract_fields(doc: dict[str, Any]) -> None:
    add = body(doc, "post", "/add")
    assert set(add["required"]) == {"a", "b"}
    assert {"queue", "retry_policy", "fail_times", "countdown"} <= set(add["properties"])
    # "The range is in the OpenAPI schema."
    for operand in ("a", "b"):
        field = add["properties"][operand]
        assert field["type"] == "number"
        assert (field["minimum"], field["maximum"]) == (-OPERAND_LIMIT, OPERAND_LIMIT)


def test_task_answers_use_the_contract_field_names(doc: dict[str, Any]) -> None:
    accepted = answered(doc, "post", "/add", "202")
    assert accepted["required"] == ["task_id"]
    assert accepted["properties"]["task_id"]["type"] == "string"
    # GET /result → 200 {"status": S, "result": R}: both are always there, R null while pending.
    result = answered(doc, "get", "/result/{task_id}", "200")
    assert set(result["required"]) == {"status", "result"}
    assert result["properties"]["status"]["enum"] == [
        "PENDING",
        "STARTED",
        "RETRY",
        "SUCCESS",
        "FAILURE",
        "REVOKED",
    ]
    assert result["properties"]["result"]["nullable"] is True
    # ?wait=N, N ≤ 30; DELETE ...?terminate=true.
    assert query(doc, "get", "/result/{task_id}", "wait")["maximum"] == 30
    assert query(doc, "delete", "/tasks/{task_id}", "terminate")["type"] == "boolean"


def test_workflow_bodies_and_answers_use_the_contract_field_names(doc: dict[str, Any]) -> None:
    options = {"queue", "retry_policy", "fail_times"}
    chain = body(doc, "post", "/chains")
    assert chain["required"] == ["numbers"] and chain["properties"]["numbers"]["minItems"] == 2
    assert options <= set(chain["properties"])
    for path in ("/groups", "/chords"):
        request = body(doc, "post", path)
        assert request["required"] == ["pairs"], path
        assert options | {"chunk_size"} <= set(request["properties"]), path

    assert set(answered(doc, "post", "/chains", "202")["required"]) >= {"task_id", "task_ids"}
    assert set(answered(doc, "post", "/groups", "202")["required"]) >= {"group_id", "task_ids"}
    assert set(answered(doc, "post", "/chords", "202")["required"]) >= {"task_id", "group_id"}
    group = answered(doc, "get", "/groups/{group_id}", "200")
    assert {"status", "total", "completed", "failed", "results"} <= set(group["required"])
    assert group["properties"]["results"]["items"]["nullable"] is True


def test_policies_and_queues_use_the_contract_field_names(doc: dict[str, Any]) -> None:
    listed = answered(doc, "get", "/retry-policies", "200")
    policy = schema(doc, listed["properties"]["policies"]["items"])
    assert {"max_retries", "backoff", "backoff_max", "jitter"} <= set(policy["required"])
    assert policy["properties"]["jitter"]["type"] == "boolean"
    # retry_policy: one of those names or an inline object of the same fields.
    choices = body(doc, "post", "/add")["properties"]["retry_policy"]["oneOf"]
    assert choices[0] == {"type": "string", "enum": ["none", "default", "aggressive", "patient"]}
    inline = schema(doc, choices[1])
    assert set(inline["required"]) == {"max_retries", "backoff", "backoff_max", "jitter"}

    queues = answered(doc, "get", "/queues", "200")
    assert queues["required"] == ["queues"]
    queue = schema(doc, queues["properties"]["queues"]["items"])
    assert set(queue["required"]) == {"name", "messages", "workers"}


def test_schedules_use_the_contract_field_names(doc: dict[str, Any]) -> None:
    create = body(doc, "post", "/schedules")
    assert set(create["required"]) == {"name", "a", "b"}
    fields = create["properties"]
    assert {"every", "crontab", "queue", "retry_policy", "enabled"} <= set(fields)
    assert fields["enabled"]["default"] is True
    patch = body(doc, "patch", "/schedules/{name}")
    assert {"every", "crontab", "a", "b", "enabled"} <= set(patch["properties"])

    listed = answered(doc, "get", "/schedules", "200")
    assert listed["required"] == ["schedules"]
    # GET /schedules/<name> → the entry "with last_run_at, total_run_count, next_run_at".
    entry = answered(doc, "get", "/schedules/{name}", "200")
    assert {"last_run_at", "total_run_count", "next_run_at"} <= set(entry["required"])
    # GET .../runs → {"runs": [{"task_id", "status", "result", "run_at"}]}.
    runs = answered(doc, "get", "/schedules/{name}/runs", "200")
    assert runs["required"] == ["runs"]
    run = schema(doc, runs["properties"]["runs"]["items"])
    assert set(run["required"]) == {"task_id", "status", "result", "run_at"}


def test_health_and_errors_use_the_contract_shape(doc: dict[str, Any]) -> None:
    health = answered(doc, "get", "/health", "200")
    assert health["properties"]["status"]["enum"] == ["ok"]
    # {"code", "status", "message", "errors"} as flask-smorest writes them, for every error.
    error = answered(doc, "get", "/health", "503")
    assert {"code", "status", "message", "errors"} == set(error["properties"])


def test_a_schedules_retry_policy_is_documented_as_nullable(doc: dict[str, Any]) -> None:
    """GET /schedules/<name> answers ``"retry_policy": null`` for the default policy. In
    OpenAPI 3.0 ``nullable`` applies only beside ``type`` in the same schema, so the document
    must offer a branch that admits null: apispec before 6.8 wrote ``allOf`` and a sibling
    ``nullable``, which a strict reader takes as never null."""
    field = doc["components"]["schemas"]["Schedule"]["properties"]["retry_policy"]
    assert {"$ref": "#/components/schemas/RetryPolicy"} in field["anyOf"]
    assert {"type": "object", "nullable": True} in field["anyOf"]


def test_schedule_bodies_document_which_fields_take_null(doc: dict[str, Any]) -> None:
    """null is a field's default in both bodies (README, Schedules): the fields a GET can show
    as null, and the queue a PATCH puts back; never the ones with a value of their own."""
    for method, path in (("post", "/schedules"), ("patch", "/schedules/{name}")):
        fields = body(doc, method, path)["properties"]
        nullable = {name for name, field in fields.items() if field.get("nullable")}
        assert nullable == {"every", "crontab", "queue", "retry_policy", "expires_after"}, path
        # OpenAPI 3.0 has no {"type": "null"}: null rides with the policy names.
        named = fields["retry_policy"]["oneOf"][0]
        assert named["nullable"] is True and None in named["enum"], path
