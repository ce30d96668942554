"""The ``Prefer: wait=N`` request header (RFC 7240): answer with the result if it is ready in time.

A client that wants the sum, not just a task id, would otherwise make two requests: the POST,
then ``GET /result/<id>?wait=N``. With ``Prefer: wait=N`` the POST itself holds up to N seconds
(at most 30 s, as ``?wait=``) and answers 200 with the result when the task finishes in time,
else the usual 202. The study guide's clients send no such header and see no change.

As RFC 7240 asks, a preference the server does not understand is ignored, not refused: a
malformed ``wait`` is treated as if it were absent. The answer names the wait it applied in
``Preference-Applied``.
"""

from __future__ import annotations

import re

__all__ = ["APPLIED_HEADER", "HEADER", "applied", "requested_wait"]

HEADER = "Prefer"
APPLIED_HEADER = "Preference-Applied"

#: A wait's value: RFC 7240 says delta-seconds (ASCII digits; ``\d`` would take any Unicode
#: digit, which float() reads too); a fraction is taken too, as ``?wait=`` takes one. The
#: value may be quoted.
_SECONDS = re.compile(r'^"?([0-9]+(?:\.[0-9]+)?)"?$')


def requested_wait(header: str | None, max_wait: float) -> float | None:
    """Seconds the client prefers to wait, capped at ``max_wait``; None when it asks for none.

    ``header`` is the raw value (``"respond-async, wait=10"``). Preferences are separated by
    commas and may carry ``;`` parameters, which ``wait`` has none of; only the first ``wait``
    counts (RFC 7240, section 2).
    """
    if not header:
        return None
    for preference in header.split(","):
        name, _, value = preference.split(";", 1)[0].partition("=")
        if name.strip().lower() != "wait":
            continue
        match = _SECONDS.match(value.strip())
        if match is None:
            return None  # a wait that does not parse is ignored, as an unknown preference is
        seconds = min(float(match.group(1)), max_wait)
        return seconds if seconds > 0 else None
    return None


def applied(seconds: float) -> str:
    """The ``Preference-Applied`` value for a wait of ``seconds`` (``wait=5``, ``wait=0.5``)."""
    return f"wait={seconds:g}"
