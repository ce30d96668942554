"""Keys given twice in a JSON body: refused while parsing, then named by their path."""

from __future__ import annotations

import json

import pytest

from api.duplicate_keys import (
    GIVEN_TWICE,
    MAX_DEPTH,
    TOO_DEEP,
    KeyGivenTwice,
    duplicate_errors,
    refuse_duplicates,
)


def test_a_body_without_duplicates_parses_as_usual() -> None:
    body = '{"a": 1, "b": [{"c": 2}, [3]], "d": {"e": {}}}'
    assert json.loads(body, object_pairs_hook=refuse_duplicates) == json.loads(body)


def test_the_hook_refuses_a_key_given_twice_anywhere() -> None:
    with pytest.raises(KeyGivenTwice):
        json.loads('{"a": [{"b": 1, "b": 1}]}', object_pairs_hook=refuse_duplicates)


def test_each_key_is_named_under_its_path() -> None:
    body = (
        '{"a": 1, "a": 2, "b": {"c": 1, "c": 2, "c": 3, "d": 1, "d": 2},'
        ' "e": [0, {"f": 1, "f": 1}]}'
    )
    assert duplicate_errors(body) == {
        "a": [GIVEN_TWICE],
        "b": {"c": [GIVEN_TWICE], "d": [GIVEN_TWICE]},
        "e": {1: {"f": [GIVEN_TWICE]}},
    }


def test_a_list_body_is_named_by_index() -> None:
    assert duplicate_errors('[[], {"a": 1, "a": 2}]') == {1: {"a": [GIVEN_TWICE]}}


@pytest.mark.parametrize("body", ["5", '"a"', "[1, [2]]", '{"a": {"b": [1]}}'])
def test_a_body_without_duplicates_has_no_errors(body: str) -> None:
    assert duplicate_errors(body) == {}


def test_under_a_key_given_twice_only_that_key_is_named() -> None:
    assert duplicate_errors('{"r": {"x": 1}, "r": {"y": 1, "y": 2}}') == {"r": [GIVEN_TWICE]}


def test_a_path_past_max_depth_is_cut_short() -> None:
    depth = MAX_DEPTH + 50
    body = "[" * depth + '{"x": 1, "x": 2}' + "]" * depth
    errors = duplicate_errors(body)
    for _ in range(MAX_DEPTH - 1):
        errors = errors[0]
    assert errors == {0: [TOO_DEEP]}


def test_broken_json_after_the_duplicate_raises_as_json_loads_does() -> None:
    with pytest.raises(json.JSONDecodeError):
        duplicate_errors('{"a": 1, "a": 2} and more')
