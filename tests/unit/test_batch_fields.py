"""The one-pass list fields: lengths first, then every element, errors under their index."""

import subprocess
import sys

import pytest
from marshmallow import ValidationError

from api.batch_fields import NumberList, PairList, operand_error
from api.fields import OPERAND_LIMIT


@pytest.mark.parametrize("value", [0, -5, 2.5, OPERAND_LIMIT, -OPERAND_LIMIT, 1e18])
def test_operands_pass(value: object) -> None:
    assert operand_error(value) is None


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("5", "JSON number"),
        (True, "JSON number"),
        (None, "JSON number"),
        ([1], "JSON number"),
        (float("nan"), "not NaN or Infinity"),
        (float("inf"), "not NaN or Infinity"),
        (OPERAND_LIMIT + 1, "between"),
        (1e19, "between"),
    ],
)
def test_non_operands_say_why(value: object, fragment: str) -> None:
    assert fragment in (operand_error(value) or "")


def pairs_field(limit: int = 5) -> PairList:
    return PairList(min_items=1, max_items=lambda: limit, limit_name="MAX_PAIRS")


def messages(field: PairList | NumberList, value: object) -> object:
    with pytest.raises(ValidationError) as caught:
        field.deserialize(value)
    return caught.value.messages


def test_pairs_pass_through_unchanged() -> None:
    pairs = [[1, 2], [0.5, -3]]
    assert pairs_field().deserialize(pairs) is pairs


def test_length_is_checked_before_elements() -> None:
    assert messages(pairs_field(2), [["x"]] * 3) == ["Too many pairs: 3; at most 2 (MAX_PAIRS)."]
    assert messages(pairs_field(), []) == ["Must hold at least 1 pair; got 0."]
    assert messages(pairs_field(), {"a": 1}) == ["Must be a list of pairs."]


def test_bad_pairs_are_reported_by_index_and_side() -> None:
    errors = messages(pairs_field(), [[1, 2], [1, 2, 3], ["a", 1], [1, None]])
    assert errors == {
        1: ["Must be a pair [a, b] of two numbers."],
        2: {0: ["Must be a JSON number, not a string, boolean or null."]},
        3: {1: ["Must be a JSON number, not a string, boolean or null."]},
    }


def test_at_most_ten_bad_elements_are_reported() -> None:
    field = PairList(min_items=1, max_items=1000, limit_name="MAX_PAIRS")
    assert len(messages(field, [[1]] * 500)) == 10  # type: ignore[arg-type]


def test_number_lists() -> None:
    field = NumberList(min_items=2, max_items=3, limit_name="MAX_CHAIN_NUMBERS")
    assert field.deserialize([1, 2.5]) == [1, 2.5]
    assert messages(field, [1]) == ["Must hold at least 2 numbers; got 1."]
    assert messages(field, [1, 2, 3, 4]) == ["Too many numbers: 4; at most 3 (MAX_CHAIN_NUMBERS)."]
    assert messages(field, [1, "2", False]) == {
        1: ["Must be a JSON number, not a string, boolean or null."],
        2: ["Must be a JSON number, not a string, boolean or null."],
    }


def test_the_fields_need_nothing_from_marshmallows_provisional_types_at_run_time() -> None:
    """marshmallow.types is provisional ("types may be modified, added, and removed between
    minor releases"): ErrorMessages came in 4.2.3, and pyproject allows marshmallow 4.0. The
    app must import without it, as it does with 4.0 to 4.2.2 installed."""
    code = "import marshmallow.types as t; vars(t).pop('ErrorMessages', None); import api.app"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
