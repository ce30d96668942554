"""Runs every scenario through both paths, interleaved, and keeps every run's figures.

Runs alternate API and raw, starting with the API on even repetitions and with raw on odd
ones (A B B A ...), so a machine that slows down or speeds up during the run (other people's
tests share the 2 cores) does not favour either path. The figure kept is the median.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from tests.bench.clients import EndpointMissing
from tests.bench.scenarios import Context, Scenario
from tests.bench.stack import wait_idle

__all__ = ["MISSING", "Outcome", "run_all"]

MISSING = "n/a (endpoint missing)"
PATHS = ("api", "raw")


@dataclass
class Outcome:
    """Every run of one scenario on one path."""

    runs: list[dict[str, float]] = field(default_factory=list)
    status: str = "ok"

    def median(self) -> dict[str, float]:
        keys = dict.fromkeys(k for run in self.runs for k in run)
        return {k: statistics.median(run[k] for run in self.runs if k in run) for k in keys}

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "median": self.median(), "runs": self.runs}


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def warm_up(ctx: Context, adds: int = 30) -> None:
    """Open connections and import lazily loaded code on both paths before measuring."""
    for i in range(adds):
        ctx.api.result(ctx.api.add(i, 1), wait=5)
        ctx.raw.add_and_get(i, 1)


def run_all(ctx: Context, scenarios: list[Scenario], reps: int) -> dict[str, dict[str, Outcome]]:
    outcomes: dict[str, dict[str, Outcome]] = {}
    redis = ctx.stack.redis()
    for scenario in scenarios:
        outcome = outcomes[scenario.name] = {path: Outcome() for path in PATHS}
        for rep in range(reps):
            order = PATHS if rep % 2 == 0 else PATHS[::-1]
            for path in order:
                if outcome[path].status != "ok":
                    continue
                wait_idle(redis)
                run = scenario.api if path == "api" else scenario.raw
                started = time.perf_counter()
                try:
                    figures = run(ctx)
                except EndpointMissing as exc:
                    outcome[path].status = MISSING
                    _log(f"  {scenario.name:<11} {path:<4} {MISSING}: {exc}")
                    continue
                except Exception as exc:  # noqa: BLE001 - one broken scenario must not stop the rest
                    outcome[path].status = f"error: {type(exc).__name__}: {exc}"[:300]
                    _log(f"  {scenario.name:<11} {path:<4} {outcome[path].status}")
                    continue
                outcome[path].runs.append(figures)
                headline = figures[scenario.keys[0]]
                took = time.perf_counter() - started
                _log(
                    f"  {scenario.name:<11} {path:<4} run {rep + 1}: "
                    f"{headline:,.3f} {scenario.unit} ({took:.1f} s)"
                )
    redis.close()
    return outcomes
