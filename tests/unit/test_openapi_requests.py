"""The OpenAPI document is valid OpenAPI 3.0 and allows the requests the server accepts, no more.

Generated clients and schema-driven fuzzers (schemathesis's positive_data_acceptance) send
whatever the document allows; each test here pins a bound the server enforces that the document
once left out. The live side of it is tests/integration/test_fuzz.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from schemathesis.specs.openapi.definitions import OPENAPI_30_VALIDATOR

from api import create_app
from config.retry_policies import BUILTIN_POLICIES

UNREACHABLE = "redis://127.0.0.1:1/0"  # building the document needs no Redis
OPERAND_RANGE = {"minimum": -(2**63 - 1), "maximum": 2**63 - 1}
POLICY_NAMES = list(BUILTIN_POLICIES)


def document(**settings: Any) -> dict[str, Any]:
    app = create_app({"redis_url": UNREACHABLE, **settings})
    return app.test_client().get("/openapi.json").json


def schemas(**settings: Any) -> dict[str, Any]:
    return document(**settings)["components"]["schemas"]


def referenced(doc_schemas: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    return doc_schemas[ref["$ref"].rsplit("/", 1)[-1]]


@pytest.mark.parametrize(
    "settings",
    [{}, {"api_keys": ("k1",), "rate_limit": "10/second"}, {"host": "0.0.0.0"}],
    ids=["default", "keys-and-limits", "any-host"],
)
def test_the_document_is_valid_openapi_3_0(settings: dict[str, Any]) -> None:
    # ScheduleUpdate's retry_policy offered {"type": "null"}, which is OpenAPI 3.1's, not
    # 3.0's: openapi-spec-validator, and the code generators that check first, refused the
    # whole document.
    problems = [
        f"{'/'.join(map(str, error.instance_path))} fails {error.schema_path[-1]}"
        for error in OPENAPI_30_VALIDATOR.iter_errors(document(**settings))
    ]
    assert problems == []


REQUESTS = ("AddRequest", "ChainRequest", "GroupRequest", "ChordRequest")
#: Schedule bodies take null for both, as the field's default (README, Schedules).
SCHEDULE_BODIES = ("ScheduleCreate", "ScheduleUpdate")


def test_queues_and_policy_names_are_the_configured_ones() -> None:
    # Any string of 1-200 characters was documented; the server answers 422 "Unknown queue"
    # and "Unknown retry policy" for all but the configured ones.
    found = schemas(queues=("bulk", "urgent"), default_queue="bulk")
    for name in REQUESTS:
        fields = found[name]["properties"]
        assert fields["queue"]["enum"] == ["bulk", "urgent"], name
        named, inline = fields["retry_policy"]["oneOf"]
        assert named == {"type": "string", "enum": POLICY_NAMES}, name
        assert "backoff_max" in referenced(found, inline)["properties"], name
    # A schedule body may send null for either: the default.
    for name in SCHEDULE_BODIES:
        fields = found[name]["properties"]
        assert fields["queue"]["enum"] == ["bulk", "urgent", None], name
        assert fields["queue"]["nullable"] is True, name
        named, inline = fields["retry_policy"]["oneOf"]
        assert named == {"type": "string", "enum": [*POLICY_NAMES, None], "nullable": True}
        assert inline == {"$ref": "#/components/schemas/InlineRetryPolicy"}, name


def test_delays_are_at_most_half_the_visibility_timeout_of_these_settings() -> None:
    found = schemas(visibility_timeout_seconds=120, add_delay_seconds=1)
    assert found["AddRequest"]["properties"]["countdown"]["maximum"] == 60
    assert found["InlineRetryPolicy"]["properties"]["backoff_max"]["maximum"] == 60
    # What is stored or named is shown as it is: "patient" waits up to 240 s, capped when
    # it runs, and a schedule keeps the policy it was given under older settings.
    assert "maximum" not in found["RetryPolicy"]["properties"]["backoff_max"]
    assert "maximum" not in found["NamedRetryPolicy"]["properties"]["backoff_max"]


def test_list_lengths_and_chunk_sizes_are_bounded_by_these_settings() -> None:
    found = schemas(max_chain_numbers=5, max_pairs=10, max_tasks_per_request=10)
    assert found["ChainRequest"]["properties"]["numbers"]["maxItems"] == 5
    for name in ("GroupRequest", "ChordRequest"):
        fields = found[name]["properties"]
        assert fields["pairs"]["maxItems"] == 10, name
        assert fields["chunk_size"]["maximum"] == 10, name


def test_every_operand_in_a_list_has_the_operand_range() -> None:
    found = schemas()
    numbers = found["ChainRequest"]["properties"]["numbers"]["items"]
    assert numbers == {"type": "number", **OPERAND_RANGE}
    for name in ("GroupRequest", "ChordRequest"):
        pair = found[name]["properties"]["pairs"]["items"]
        assert pair["items"] == {"type": "number", **OPERAND_RANGE}, name


def test_a_schedule_takes_every_or_crontab_never_both() -> None:
    found = schemas()
    # A new schedule needs exactly one; a change may give either, or neither. Given means
    # present and not null (null is the field's default): each branch's schema, having no
    # "nullable", refuses null, so {"every": 60, "crontab": null} gives one timing.
    every = {"required": ["every"], "properties": {"every": {"type": "number"}}}
    crontab = {"required": ["crontab"], "properties": {"crontab": {"type": "string"}}}
    assert found["ScheduleCreate"]["oneOf"] == [every, crontab]
    assert found["ScheduleUpdate"]["not"] == {"allOf": [every, crontab]}
    # A change may clear one (null) only beside the other given.
    cleared = [
        {"required": [key], "not": given} for key, given in (("every", every), ("crontab", crontab))
    ]
    assert found["ScheduleUpdate"]["anyOf"] == [{"not": {"anyOf": cleared}}, every, crontab]
    for name in ("ScheduleCreate", "ScheduleUpdate"):
        assert found[name]["properties"]["crontab"]["maxLength"] == 200, name


def test_a_patch_may_come_without_a_body_which_changes_nothing() -> None:
    # The server reads no body as {}, the empty patch; the document said a body is required.
    patch = document()["paths"]["/schedules/{name}"]["patch"]
    assert patch["requestBody"].get("required", False) is False
