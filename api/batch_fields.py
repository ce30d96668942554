"""Fields for long lists of operands (a chain's numbers, a group's pairs), checked in one pass.

marshmallow's ``List(List(Number))`` spends microseconds on every element; for 100,000 pairs
that is seconds of a web worker. These fields check the length first (so an oversized list is
refused before any element is looked at), then every element with plain type checks, and
report at most `MAX_REPORTED` bad elements, each under its index (``pairs.3.1: ...``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError, fields

from api.fields import NOT_A_NUMBER, OPERAND_LIMIT, OPERAND_NON_FINITE, OPERAND_OUT_OF_RANGE

__all__ = ["MAX_REPORTED", "NumberList", "PairList", "operand_error"]

#: Bad elements reported per field; a list of 100,000 strings needs no 100,000 messages.
MAX_REPORTED = 10

NOT_A_PAIR = "Must be a pair [a, b] of two numbers."


def operand_error(value: Any) -> str | None:
    """Why ``value`` is not an operand (see `api.fields.Operand`), or None if it is one."""
    kind = type(value)
    if kind is int:
        return None if -OPERAND_LIMIT <= value <= OPERAND_LIMIT else OPERAND_OUT_OF_RANGE
    if kind is float:
        if not math.isfinite(value):
            return OPERAND_NON_FINITE
        return None if -OPERAND_LIMIT <= value <= OPERAND_LIMIT else OPERAND_OUT_OF_RANGE
    return NOT_A_NUMBER  # bool, str, None, list, dict, and int/float subclasses


def _limit(max_items: int | Callable[[], int]) -> int:
    return max_items() if callable(max_items) else max_items


class _OperandList(fields.Field):
    """A JSON array whose length is checked against bounds before its elements are."""

    #: Singular and plural names of the elements, for messages.
    item_name = ("item", "items")

    def __init__(
        self,
        *,
        min_items: int,
        max_items: int | Callable[[], int],
        limit_name: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.min_items = min_items
        self.max_items = max_items
        self.limit_name = limit_name

    def _check_length(self, value: Any) -> list[Any]:
        one, many = self.item_name
        if not isinstance(value, list):
            raise ValidationError(f"Must be a list of {many}.")
        if len(value) < self.min_items:
            need = f"{self.min_items} {one if self.min_items == 1 else many}"
            raise ValidationError(f"Must hold at least {need}; got {len(value)}.")
        limit = _limit(self.max_items)
        if len(value) > limit:
            raise ValidationError(
                f"Too many {many}: {len(value)}; at most {limit} ({self.limit_name})."
            )
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class NumberList(_OperandList):
    """A JSON array of operands."""

    item_name = ("number", "numbers")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        numbers = self._check_length(value)
        errors: dict[int, list[str]] = {}
        for index, number in enumerate(numbers):
            problem = operand_error(number)
            if problem is not None:
                errors[index] = [problem]
                if len(errors) == MAX_REPORTED:
                    break
        if errors:
            raise ValidationError(errors)
        return numbers


class PairList(_OperandList):
    """A JSON array of ``[a, b]`` pairs of operands."""

    item_name = ("pair", "pairs")

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        pairs = self._check_length(value)
        errors: dict[int, Any] = {}
        for index, pair in enumerate(pairs):
            if type(pair) is list and len(pair) == 2:
                first, second = operand_error(pair[0]), operand_error(pair[1])
                if first is None and second is None:
                    continue
                errors[index] = {side: [p] for side, p in ((0, first), (1, second)) if p}
            else:
                errors[index] = [NOT_A_PAIR]
            if len(errors) == MAX_REPORTED:
                break
        if errors:
            raise ValidationError(errors)
        return pairs
