"""Bad input: every case is a 4xx JSON answer naming the problem, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support import AppBuilder

pytestmark = pytest.mark.integration

POLICY = {"max_retries": 1, "backoff": 1, "backoff_max": 5, "jitter": False}


#: The operand range, as every operand's message words it.
OPERAND_RANGE = "Must be between -9223372036854775807 and 9223372036854775807"


@pytest.mark.parametrize(
    ("body", "field", "fragment"),
    [
        ({"a": "5", "b": 3}, "a", "JSON number"),
        ({"a": 5, "b": True}, "b", "JSON number"),
        ({"a": None, "b": 3}, "a", "null"),
        ({"a": 5}, "b", "Missing data"),
        ({"a": 2**63, "b": 1}, "a", f"{OPERAND_RANGE}."),
        ({"a": 1, "b": 2, "c": 3}, "c", "Unknown field"),
        ({"a": 1, "b": 2, "queue": "nowhere"}, "queue", "configured queues: default, priority"),
        ({"a": 1, "b": 2, "retry_policy": "sometimes"}, "retry_policy", "named policies"),
        ({"a": 1, "b": 2, "fail_times": -1}, "fail_times", "greater than or equal to 0"),
        # Every bound named once, the same way: the upper one is the configured one.
        ({"a": 1, "b": 2, "countdown": -5}, "countdown", "Must be greater than or equal to 0."),
        ({"a": 1, "b": 2, "countdown": 99999}, "countdown", "Must be at most 300 s (half"),
        ({"a": 1, "b": 2, "countdown": 3000}, "countdown", "half the broker's visibility"),
        (
            {"a": 1, "b": 2, "retry_policy": {**POLICY, "backoff_max": -1}},
            "retry_policy.backoff_max",
            "Must be greater than or equal to 0.",
        ),
        (
            {"a": 1, "b": 2, "retry_policy": {**POLICY, "backoff_max": 9999}},
            "retry_policy.backoff_max",
            "Must be at most 300 s (half",
        ),
        (
            {"a": 1, "b": 2, "retry_policy": {"max_retries": 1, "backoff": 1}},
            "retry_policy.backoff_max",
            "Missing data",
        ),
    ],
)
def test_bad_fields_get_422_naming_the_field(
    client: FlaskClient, body: dict[str, Any], field: str, fragment: str
) -> None:
    response = client.post("/add", json=body)
    assert response.status_code == 422
    assert response.json["code"] == 422
    assert f"{field}:" in response.json["message"]
    assert fragment in response.json["message"]


@pytest.mark.parametrize(
    "options",
    [{"countdown": 300}, {"retry_policy": {**POLICY, "backoff_max": 300}}],
    ids=["countdown", "backoff_max"],
)
def test_a_delay_of_exactly_half_the_visibility_timeout_is_accepted(
    quiet_redis_url: str, options: dict[str, Any], build_app: AppBuilder
) -> None:
    """A bound of "at most 300 s" takes 300 s. On a Redis of its own: no worker runs the add."""
    app = build_app({"redis_url": quiet_redis_url, "rate_limit": ""})
    assert app.extensions["sumflow"].settings.max_delay_seconds == 300
    response = app.test_client().post("/add", json={"a": 1, "b": 2, **options})
    assert response.status_code == 202, response.json


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-2e308"])
def test_non_finite_numbers_are_refused(client: FlaskClient, literal: str) -> None:
    response = client.post(
        "/add", data=f'{{"a": {literal}, "b": 1}}', content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json["errors"] == {"json": {"a": [f"{OPERAND_RANGE}, not NaN or Infinity."]}}


@pytest.mark.parametrize("literal", ["9223372036854775808", "1.5e308", "-1e19"])
def test_operands_out_of_range_get_the_range(client: FlaskClient, literal: str) -> None:
    """The same message on every endpoint that takes operands (chains and groups say it per
    element), however far outside the range."""
    response = client.post(
        "/add", data=f'{{"a": 1, "b": {literal}}}', content_type="application/json"
    )
    assert response.status_code == 422
    assert response.json["errors"] == {"json": {"b": [f"{OPERAND_RANGE}."]}}


def test_a_5000_digit_integer_is_a_400_not_a_crash(client: FlaskClient) -> None:
    body = '{"a": ' + "9" * 5000 + ', "b": 1}'
    response = client.post("/add", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "number is too long" in response.json["message"]


def test_deeply_nested_json_is_a_400_not_a_crash(client: FlaskClient) -> None:
    response = client.post("/add", data="[" * 100_000, content_type="application/json")
    assert response.status_code == 400
    assert "nested too deeply" in response.json["message"]


def test_malformed_json_is_400(client: FlaskClient) -> None:
    response = client.post("/add", data='{"a": 1,', content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json["message"]


def test_a_body_starting_with_a_byte_order_mark_is_told_so_plainly(client: FlaskClient) -> None:
    """RFC 8259: a JSON text sent over a network must not begin with a BOM. The answer says
    what to change in words a client's author knows, not Python's "utf-8-sig"."""
    body = "\ufeff" + '{"a": 1, "b": 2}'
    response = client.post("/add", data=body.encode(), content_type="application/json")
    assert response.status_code == 400
    assert response.json["message"] == (
        "Invalid request: The body is not valid JSON: it starts with a byte order mark "
        "(U+FEFF); send the JSON without it."
    )


def test_a_list_body_is_422(client: FlaskClient) -> None:
    response = client.post("/add", json=[5, 3])
    assert response.status_code == 422
    assert "body: Must be a JSON object" in response.json["message"]


TWICE = ["Given more than once in the body."]


@pytest.mark.parametrize(
    ("path", "body", "errors", "named"),
    [
        ("/add", '{"a": 1, "b": 2, "a": 5}', {"a": TWICE}, ["a"]),
        # A nested key is named by its path, as marshmallow names retry_policy.extra.
        (
            "/add",
            '{"a": 1, "b": 2, "retry_policy": {"max_retries": 1, "max_retries": 9}}',
            {"retry_policy": {"max_retries": TWICE}},
            ["retry_policy.max_retries"],
        ),
        (
            "/chains",
            '{"numbers": [1, 2], "retry_policy": {"max_retries": 1, "backoff": 1, '
            '"backoff_max": 1, "jitter": true, "a": 1, "a": 2}}',
            {"retry_policy": {"a": TWICE}},
            ["retry_policy.a"],
        ),
        # In a list, by its index, as marshmallow names pairs.1.0.
        (
            "/groups",
            '{"pairs": [[1, 2], {"a": 1, "a": 2}]}',
            {"pairs": {"1": {"a": TWICE}}},
            ["pairs.1.a"],
        ),
        # Every one of them, the object's own keys before those of the objects in it.
        (
            "/chords",
            '{"pairs": [[1, 2]], "retry_policy": {"x": 1, "x": 2}, "pairs": [[3, 4]]}',
            {"pairs": TWICE, "retry_policy": {"x": TWICE}},
            ["pairs", "retry_policy.x"],
        ),
    ],
)
def test_a_key_given_twice_is_422_naming_it(
    client: FlaskClient, path: str, body: str, errors: dict[str, Any], named: list[str]
) -> None:
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.json["errors"] == {"json": errors}
    listed = "; ".join(f"{key}: Given more than once in the body" for key in named)
    assert response.json["message"] == f"Invalid request: {listed}."


def test_a_key_given_twice_after_broken_json_is_still_400(client: FlaskClient) -> None:
    """Malformed JSON is 400 wherever the first key given twice is."""
    body = '{"retry_policy": {"x": 1, "x": 2}, "a": 1,'
    response = client.post("/add", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.json["message"]


@pytest.mark.parametrize("wait", ["abc", "1_0", "%D9%A3", "%EF%BC%95", "1e%D9%A3", "%205"])
def test_a_wait_that_is_not_plain_decimals_is_422(client: FlaskClient, wait: str) -> None:
    """Python's float() reads 1_0 as 10 and an Arabic-Indic digit as 3; ?wait= does not."""
    response = client.get(f"/result/00000000-0000-0000-0000-000000000000?wait={wait}")
    assert response.status_code == 422
    assert response.json["errors"] == {"query": {"wait": ["Not a valid number."]}}
    assert response.json["message"] == "Invalid request: wait: Not a valid number."


def test_a_wait_in_exponent_notation_is_a_number(client: FlaskClient) -> None:
    """The document says wait is a number, and a client writes a small one as 1e-05 (Python's
    str) or 1e-7 (JavaScript's): it was 422 "Not a valid number"."""
    response = client.get("/result/00000000-0000-0000-0000-000000000000?wait=1e-05")
    assert response.status_code == 404  # read, then the id: never issued
    assert client.get("/result/x?wait=3e%2B1").status_code == 404  # 3e+1: 30, the most
    assert client.get("/result/x?wait=1e2").json["errors"] == {
        "query": {"wait": ["Must be greater than or equal to 0 and less than or equal to 30."]}
    }


def test_a_form_body_is_415(client: FlaskClient) -> None:
    response = client.post("/add", data={"a": "5", "b": "3"})
    assert response.status_code == 415
    assert "application/json" in response.json["message"]


@pytest.mark.parametrize("encoding", ["gzip", "br, gzip"])
def test_an_encoded_body_is_415(client: FlaskClient, encoding: str) -> None:
    """A compressed body is refused as such, not misread as broken JSON, and a body that is
    labelled compressed but is not cannot slip through either."""
    response = client.post("/add", json={"a": 5, "b": 3}, headers={"Content-Encoding": encoding})
    assert response.status_code == 415
    assert f"Content-Encoding: {encoding}" in response.json["message"]
    assert response.headers["Accept-Encoding"] == "identity"


def test_an_identity_encoded_body_is_read(client: FlaskClient) -> None:
    response = client.post("/add", json={"a": 5, "b": 3}, headers={"Content-Encoding": "identity"})
    assert response.status_code == 202


def test_an_oversized_body_is_413(client: FlaskClient) -> None:
    body = '{"a": 1, "b": 2, "pad": "' + "x" * (9 * 1024 * 1024) + '"}'
    response = client.post("/add", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json["code"] == 413


def test_unknown_paths_and_methods_answer_json(client: FlaskClient) -> None:
    assert client.get("/nowhere").json["code"] == 404
    response = client.put("/add", json={})
    assert response.status_code == 405
    # RFC 9110: a 405 names the methods the resource allows.
    assert response.headers["Allow"] == "OPTIONS, POST"
    assert response.json["message"] == (
        "The method is not allowed for this URL; it allows OPTIONS, POST."
    )


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("/add/", "did you mean '/add'"),  # a trailing slash: the path without it exists
        ("/queues/", "did you mean '/queues'"),
        ("/docs/", "did you mean '/docs'"),
        ("/nowhere", "see /docs"),
        ("/", "see /docs"),
    ],
)
def test_an_unknown_path_is_named_in_its_404(client: FlaskClient, path: str, hint: str) -> None:
    # A newcomer's typo gets an answer that names the path, not werkzeug's generic page text.
    response = client.post(path, json={"a": 1, "b": 2})
    assert response.status_code == 404
    assert response.json["message"].startswith(f"No endpoint at '{path}'")
    assert hint in response.json["message"]


@pytest.mark.parametrize(
    ("method", "path", "hint"),
    [
        ("GET", "/result//x", "did you mean '/result/x', without the extra slashes?"),
        ("DELETE", "/tasks//x", "did you mean '/tasks/x', without the extra slashes?"),
        ("GET", "/nowhere//x", "see /docs"),  # no path without them either
        ("GET", "/result//x/", "did you mean '/result/x', without the extra slashes?"),
    ],
)
def test_a_doubled_slash_is_a_json_404_not_a_redirect(
    redis_url: str, build_app: AppBuilder, method: str, path: str, hint: str
) -> None:
    # werkzeug answered these with an HTML 308 to an absolute URL built from the Host header;
    # paths are taken as written, as a trailing slash is. An API that answers any Host (as
    # behind a proxy) must not send a client to the one it named.
    client = build_app({"redis_url": redis_url, "trusted_hosts": ("*",)}).test_client()
    response = client.open(path, method=method, headers={"Host": "evil.example"})
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert response.json["message"].startswith(f"No endpoint at {path!r}; {hint}")


@pytest.mark.parametrize("body", ["[5, 3]", "null", "5", '"5 + 3"'])
def test_a_body_that_is_not_an_object_says_so(client: FlaskClient, body: str) -> None:
    response = client.post("/add", data=body, content_type="application/json")
    assert response.status_code == 422
    assert response.json["message"] == "Invalid request: body: Must be a JSON object."


def test_options_answers_204_with_the_allowed_methods(client: FlaskClient) -> None:
    response = client.options("/schedules")
    assert response.status_code == 204
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD", "OPTIONS", "POST"}
    assert "Content-Type" not in response.headers and response.data == b""


def test_an_error_answer_does_not_echo_a_huge_request_back(client: FlaskClient) -> None:
    # A megabyte-long value is cut in the answer, not sent back whole (twice, before).
    long = client.post("/add", json={"a": 1, "b": 2, "retry_policy": "x" * 1_000_000})
    assert long.status_code == 422
    assert len(long.data) < 2_000
    assert long.json["errors"]["json"]["retry_policy"][0].endswith("characters in all)")

    # A thousand unknown fields: ten are listed, and the message counts the rest.
    many = client.post("/add", json={"a": 1, "b": 2, **{f"k{i}": 1 for i in range(1000)}})
    assert many.status_code == 422
    assert len(many.json["errors"]["json"]) == 10
    assert many.json["message"].endswith("; and 990 more.")
