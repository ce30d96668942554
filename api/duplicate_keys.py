"""Keys given twice in one JSON object: refused while parsing, then named by where they are.

Python would keep the last value silently, so ``{"a": 1, "b": 2, "a": 5}`` would add 5 where
the client may have meant 1. An ``object_pairs_hook`` sees one object at a time and not where
it sits, so the body is parsed twice only when it has such a key: once cheaply, stopping at
the first, then marking every object with one, and walking the result for their paths.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection
from typing import Any

__all__ = [
    "GIVEN_TWICE",
    "MAX_DEPTH",
    "TOO_DEEP",
    "KeyGivenTwice",
    "duplicate_errors",
    "refuse_duplicates",
]

GIVEN_TWICE = "Given more than once in the body."
TOO_DEEP = "Holds a key given more than once, nested too deep to name."
#: Levels of a path named in full; no endpoint takes bodies nested more than three deep.
MAX_DEPTH = 16


class KeyGivenTwice(Exception):
    """Some object of the body names a key twice (`duplicate_errors` says which, and where)."""


def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The ``object_pairs_hook`` of every body: a dict, or KeyGivenTwice. As cheap as it gets,
    since every POST goes through it."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise KeyGivenTwice
    return obj


class _Marked(dict[str, Any]):
    """An object that names ``twice`` more than once."""

    __slots__ = ("twice",)
    twice: list[str]


def _mark_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    marked = _Marked(obj)
    marked.twice = [key for key, count in Counter(key for key, _ in pairs).items() if count > 1]
    return marked


#: What the parse makes of a JSON object or array.
_CONTAINERS = frozenset({dict, _Marked, list})


def _children(value: Any, twice: Collection[str] = ()) -> list[tuple[str | int, Any]]:
    """The objects and arrays in ``value`` that may hold an object with a key given twice.

    Part of every body is a long list of short arrays of numbers (a group's pairs): an
    array without an object or array in it is skipped by a test that runs in C."""
    items = enumerate(value) if type(value) is list else value.items()
    return [
        (key, item)
        for key, item in items
        if type(item) in _CONTAINERS
        and key not in twice
        and (type(item) is not list or not _CONTAINERS.isdisjoint(map(type, item)))
    ]


def _holds_duplicates(value: Any) -> bool:
    stack = [value]
    while stack:
        value = stack.pop()
        if type(value) is _Marked:
            return True
        stack.extend(item for _, item in _children(value))
    return False


def _at(errors: dict[str | int, Any], path: tuple[str | int, ...]) -> dict[str | int, Any]:
    for part in path:
        errors = errors.setdefault(part, {})
    return errors


def duplicate_errors(text: str) -> dict[str | int, Any]:
    """Every key given twice in the JSON ``text``, nested by object key and list index as
    marshmallow nests its errors (``{"retry_policy": {"a": [GIVEN_TWICE]}}``, ``{"pairs":
    {1: {"a": [...]}}}``). Under a key given twice itself, only that key is named: the value
    kept for it is not looked into. Past MAX_DEPTH levels a path is cut short, as an answer
    nested a thousand deep would be no use to anyone (and too deep for errors.py to print).

    Raises what ``json.loads`` raises for ``text``: the body may be broken after its first
    duplicate, where the first parse stopped. For 100,000 pairs this costs about two more
    parses of the body.
    """
    errors: dict[str | int, Any] = {}
    body = json.loads(text, object_pairs_hook=_mark_duplicates)
    stack: list[tuple[Any, tuple[str | int, ...]]] = []
    if type(body) in _CONTAINERS:
        stack.append((body, ()))
    while stack:  # depth first, in the body's order, without recursion
        value, path = stack.pop()
        if len(path) == MAX_DEPTH:
            if _holds_duplicates(value):
                _at(errors, path[:-1])[path[-1]] = [TOO_DEEP]
            continue
        twice: list[str] = getattr(value, "twice", [])
        for key in twice:
            _at(errors, path)[key] = [GIVEN_TWICE]
        children = [(item, (*path, key)) for key, item in _children(value, twice)]
        stack.extend(reversed(children))
    return errors
