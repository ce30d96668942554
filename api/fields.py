"""Strict field types: a number is a JSON number, never a string, boolean or NaN, and a
number in a query string is plain ASCII decimals."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from marshmallow import fields

if TYPE_CHECKING:  # marshmallow 4.2.3 added it; the provisional types module is for hints only
    from marshmallow.types import ErrorMessages

__all__ = [
    "NON_FINITE",
    "NOT_A_NUMBER",
    "OPERAND_NON_FINITE",
    "OPERAND_OUT_OF_RANGE",
    "DecimalQueryNumber",
    "IntegerQueryNumber",
    "JSONBoolean",
    "JSONInteger",
    "JSONNumber",
    "OPERAND_LIMIT",
    "Operand",
]

#: Largest operand magnitude accepted (2**63 - 1). Sums are exact integers beyond it,
#: and floats this size still add without overflowing to infinity.
OPERAND_LIMIT = 2**63 - 1

#: JSON has no NaN or Infinity, but Python reads them, and reads a float too large for a
#: double (1e400) as Infinity.
NON_FINITE = "Must be a finite number: not NaN or Infinity, nor larger than 1.8e308."

#: What a number field says of a string, boolean or null; the batch fields say the same.
NOT_A_NUMBER = "Must be a JSON number, not a string, boolean or null."

#: An operand's messages name its own range, whichever endpoint and however far outside
#: (1.5e308, and 1e400 read as Infinity, are both simply too large).
OPERAND_OUT_OF_RANGE = f"Must be between {-OPERAND_LIMIT} and {OPERAND_LIMIT}."
OPERAND_NON_FINITE = f"{OPERAND_OUT_OF_RANGE[:-1]}, not NaN or Infinity."


class _StrictNumber:
    """Accept JSON numbers as they are: integers stay integers, floats must be finite."""

    default_error_messages: ErrorMessages = {
        "invalid": NOT_A_NUMBER,
        "non_finite": NON_FINITE,
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")  # type: ignore[attr-defined]
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("non_finite")  # type: ignore[attr-defined]
        return value

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value


class JSONNumber(_StrictNumber, fields.Number):
    """Any finite JSON number."""

    num_type = float  # only used by marshmallow's own conversions, which we bypass


class Operand(JSONNumber):
    """An operand of a sum: a finite JSON number (see OPERAND_LIMIT for the range)."""

    default_error_messages = {"non_finite": OPERAND_NON_FINITE}


class JSONInteger(_StrictNumber, fields.Integer):
    """A JSON integer; 2.0 and 2.5 are refused, as are strings and booleans."""

    default_error_messages = {"invalid": "Must be a JSON integer, not a string, boolean or float."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


class JSONBoolean(fields.Boolean):
    """A JSON true or false; marshmallow's Boolean would also take "yes", 1 and "on"."""

    default_error_messages = {"invalid": "Must be a JSON boolean (true or false)."}

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


#: A number as people and programs write one in a URL: ASCII digits, with an optional sign,
#: decimal point and exponent (``1e-05`` is how Python and JavaScript write a small float, and
#: the document says only "number"). ``float()`` also reads ``1_0`` (10), an Arabic-Indic ``٣``
#: (3), fullwidth digits, surrounding spaces and ``inf``.
_PLAIN_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_PLAIN_INTEGER = re.compile(r"[+-]?[0-9]+")


class _PlainQueryNumber(fields.Number):
    """A number from a query string, refused unless it matches ``plain``: Python's own
    conversion also reads underscores, other scripts' digits and surrounding spaces."""

    plain: re.Pattern[str]

    def _validated(self, value: Any) -> Any:
        if isinstance(value, str) and self.plain.fullmatch(value) is None:
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class DecimalQueryNumber(_PlainQueryNumber, fields.Float):
    """A number from a query string (``?wait=0.5``, ``?wait=1e-3``), in plain ASCII only.

    The pattern refuses ``nan`` and ``inf``. Digits too many for a float read as infinity,
    which the field's `Range` then refuses with the range in its message (give it one):
    Float's own refusal said "nan or infinity" of a plain number."""

    plain = _PLAIN_DECIMAL

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_nan=True, **kwargs)


class IntegerQueryNumber(_PlainQueryNumber, fields.Integer):
    """An integer from a query string (``?limit=10``), in plain ASCII digits only."""

    plain = _PLAIN_INTEGER
