"""Numbers from arguments and pairs from CSV: exact integers, finite floats, clear errors."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable

__all__ = ["InputError", "Number", "Pair", "parse_number", "read_pairs"]

Number = int | float
Pair = tuple[Number, Number]

#: A decimal number as a person writes it: 5, -7, 2.5, .5, 1e3. No "nan", "inf" or "1_000".
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)  # \d: 0-9 only


class InputError(ValueError):
    """A value the command line cannot send; the message says where and why."""


def parse_number(text: str) -> Number:
    """``"5"`` → 5 (an exact int, any size), ``"2.5"`` → 2.5; anything else raises."""
    candidate = text.strip()
    if not _NUMBER.fullmatch(candidate):
        raise InputError(f"{text!r} is not a number")
    if any(mark in candidate for mark in ".eE"):
        value = float(candidate)
        if value in (float("inf"), float("-inf")):
            raise InputError(f"{text!r} is too large for a float")
        return value
    try:
        return int(candidate)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise InputError(f"a number of {len(candidate.lstrip('+-'))} digits is too long") from None


def read_pairs(lines: Iterable[str], source: str = "<input>") -> list[Pair]:
    """Pairs from CSV rows ``a,b``. Blank lines and ``#`` comments are skipped, and so is a
    first row that is a header (``a,b``). Errors name the line."""
    pairs: list[Pair] = []
    first = True
    reader = csv.reader(lines)
    for row in reader:
        line = reader.line_num
        fields = [field.strip() for field in row]
        if not any(fields) or fields[0].startswith("#"):
            continue
        if first and not any(_NUMBER.fullmatch(field) for field in fields):
            first = False
            continue  # a header row
        first = False
        if len(fields) != 2:
            raise InputError(
                f"{source}, line {line}: expected two numbers 'a,b', got {len(fields)} fields"
            )
        try:
            pairs.append((parse_number(fields[0]), parse_number(fields[1])))
        except InputError as exc:
            raise InputError(f"{source}, line {line}: {exc}") from None
    if not pairs:
        raise InputError(f"{source}: no pairs found (expected rows 'a,b')")
    return pairs
