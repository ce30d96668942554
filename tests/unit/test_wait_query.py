"""``?wait=N`` and ``?limit=N``: plain ASCII numbers only, not everything Python reads."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError

from api.schedules import RunsQuerySchema
from api.schemas import WaitQuerySchema


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10", 10.0),
        ("0", 0.0),
        ("0.5", 0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("+5", 5.0),
        ("030", 30.0),
        # The document says wait is a number, and clients write small ones as str(float)
        # does (1e-05 in Python, 1e-7 in JavaScript): schemathesis was refused 1.1e-176.
        ("1e1", 10.0),
        ("2.5E-1", 0.25),
        ("1e-05", 1e-05),
        ("1.0984628737784758e-176", 1.0984628737784758e-176),
        ("3e+1", 30.0),
    ],
)
def test_a_decimal_number_is_read(text: str, seconds: float) -> None:
    assert WaitQuerySchema().load({"wait": text}) == {"wait": seconds}


def test_no_wait_is_no_wait() -> None:
    assert WaitQuerySchema().load({}) == {"wait": 0}


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "",
        "1_0",  # float() reads 10
        "\u0663",  # an Arabic-Indic 3: float() reads 3
        "\uff15",  # a fullwidth 5
        " 5",
        "5\n",
        "1e",
        "e1",
        "1e+",
        "1e1.5",
        "1e\u0663",
        "0x5",
        "inf",
        "nan",
        "5s",
    ],
)
def test_anything_else_is_not_a_number(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        WaitQuerySchema().load({"wait": text})
    assert refused.value.messages == {"wait": ["Not a valid number."]}


def test_out_of_range_still_names_the_range() -> None:
    with pytest.raises(ValidationError) as refused:
        WaitQuerySchema().load({"wait": "-1"})
    assert "greater than or equal to 0" in refused.value.messages["wait"][0]  # type: ignore[index]


@pytest.mark.parametrize("text", ["9" * 400, "1" + "0" * 5000, "-" + "9" * 400, "1e400"])
def test_a_number_too_large_for_a_float_is_out_of_range_not_infinity(text: str) -> None:
    # Plain digits, only too many of them (or 1e400): float() reads them as infinity, and the
    # answer said "Special numeric values (nan or infinity) are not permitted", of a number.
    with pytest.raises(ValidationError) as refused:
        WaitQuerySchema().load({"wait": text})
    assert refused.value.messages == {
        "wait": ["Must be greater than or equal to 0 and less than or equal to 30."]
    }


@pytest.mark.parametrize("text", ["5_0", "\uff15", "\u0663", " 5", "5.0", "1e1", "0x5"])
def test_a_run_limit_is_plain_ascii_digits_too(text: str) -> None:
    with pytest.raises(ValidationError) as refused:
        RunsQuerySchema().load({"limit": text})
    assert refused.value.messages == {"limit": ["Not a valid integer."]}
    assert RunsQuerySchema().load({"limit": "50"}) == {"limit": 50}
