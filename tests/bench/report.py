"""The benchmark's output: a table for people, a JSON file for tools, one line per ratio."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from tests.bench.runner import Outcome
from tests.bench.scenarios import Scenario, Sizes

__all__ = ["machine", "ratios", "render_table", "write_json"]

#: (ratio name, scenario, figure, how) — "ratio" is API / raw, "difference" is API - raw.
RATIOS = (
    ("throughput_api_vs_raw", "throughput", "adds_per_s", "ratio"),
    ("latency_p50_api_vs_raw", "latency", "p50_ms", "ratio"),
    ("chunks_100k_api_vs_raw", "chunks", "seconds", "ratio"),
    ("chord_1000_api_vs_raw", "chord", "seconds", "ratio"),
    ("redis_cmds_per_add_api_minus_raw", "redis_cmds", "per_add", "difference"),
    # Clients that take the sum in the POST's answer (Prefer: wait): one request per add.
    ("throughput_prefer_wait_api_vs_raw", "throughput_prefer_wait", "adds_per_s", "ratio"),
    ("latency_prefer_wait_p50_api_vs_raw", "latency_prefer_wait", "p50_ms", "ratio"),
)

#: The targets of issue #7, shown next to each figure: (scenario, figure) → text.
TARGETS = {
    ("throughput", "adds_per_s"): "API/raw ≥ 0.8",
    ("latency", "p50_ms"): "API/raw ≤ 1.5",
    ("chunks", "seconds"): "API/raw ≤ 1.3",
    ("chord", "seconds"): "API/raw ≤ 1.3",
    ("redis_cmds", "per_add"): "API − raw ≤ 4",
}


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _figure(outcome: Outcome, key: str) -> float | None:
    if outcome.status != "ok" or not outcome.runs:
        return None
    return outcome.median().get(key)


def ratios(outcomes: dict[str, dict[str, Outcome]]) -> dict[str, float | None]:
    found: dict[str, float | None] = {}
    for name, scenario, key, how in RATIOS:
        paths = outcomes.get(scenario)
        api = _figure(paths["api"], key) if paths else None
        raw = _figure(paths["raw"], key) if paths else None
        if api is None or raw is None or (how == "ratio" and raw == 0):
            found[name] = None
        else:
            found[name] = api - raw if how == "difference" else api / raw
    return found


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _mib(peak: dict[str, int]) -> str:
    return f"{peak['total'] / 1024:.0f}"


def _cell(outcome: Outcome, key: str) -> str:
    if outcome.status != "ok":
        return outcome.status if len(outcome.status) < 40 else outcome.status[:37] + "..."
    return _fmt(_figure(outcome, key))


#: Scenarios that repeat another with clients sending ``Prefer: wait``, named with this suffix.
PREFER_WAIT = "_prefer_wait"


def _label(scenario: Scenario, key: str, sizes: Sizes) -> str:
    base = scenario.name.removesuffix(PREFER_WAIT)
    n = {
        "latency": f"{sizes.latency_calls} sequential",
        "throughput": f"{sizes.throughput_adds:,} adds, {sizes.client_threads} clients",
        "group": f"group of {sizes.group:,}",
        "chord": f"chord of {sizes.chord:,}",
        "chain": f"chain of {sizes.chain:,}",
        "chunks": f"{sizes.chunk_pairs:,} pairs, chunks of {sizes.chunk_size}",
        "redis_cmds": f"{sizes.counted_adds} adds, submit + read",
    }[base]
    if base != scenario.name:
        n += ", Prefer: wait"
    what = {
        "p50_ms": "one add p50 (ms)",
        "p99_ms": "one add p99 (ms)",
        "adds_per_s": "throughput (adds/s)",
        "seconds": "time (s)",
        "per_add": "Redis commands per add",
    }.get(key, key)
    if base == "throughput" and key == "seconds":
        return ""
    return f"{what}, {n}" if key != "seconds" else f"{scenario.title.split(',')[0]}: {n} (s)"


def render_table(
    scenarios: list[Scenario],
    outcomes: dict[str, dict[str, Outcome]],
    memory: dict[str, dict[str, int]],
    sizes: Sizes,
) -> str:
    rows = [("figure", "API", "raw Celery", "API/raw", "target")]
    for scenario in scenarios:
        paths = outcomes[scenario.name]
        for key in scenario.keys:
            label = _label(scenario, key, sizes)
            if not label or key == "mean_ms":
                continue
            api, raw = _figure(paths["api"], key), _figure(paths["raw"], key)
            if scenario.name == "redis_cmds":
                compare = "—" if api is None or raw is None else f"{api - raw:+.2f}"
            else:
                compare = "—" if api is None or raw is None or not raw else f"{api / raw:.2f}"
            target = TARGETS.get((scenario.name, key), "")
            rows.append(
                (label, _cell(paths["api"], key), _cell(paths["raw"], key), compare, target)
            )
    api_mem, worker_mem = memory.get("api"), memory.get("worker")
    if api_mem:
        rows.append(
            (
                f"peak RSS of the API, {api_mem['processes']} web server processes (MiB)",
                _mib(api_mem),
                "no API",
                "",
                "",
            )
        )
    if worker_mem:
        rows.append(
            (
                f"peak RSS of the worker, {worker_mem['processes']} processes, shared (MiB)",
                _mib(worker_mem),
                _mib(worker_mem),
                "",
                "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [row[i].rjust(widths[i]) for i in range(1, 4)]
        cells.append(row[4].ljust(widths[4]))
        lines.append("| " + " | ".join(cells) + " |")
        if index == 0:
            lines.append(
                "|"
                + "|".join("-" * (w + 2) for w in widths[:1])
                + "|"
                + "|".join("-" * (w + 1) + ":" for w in widths[1:4])
                + "|"
                + "-" * (widths[4] + 2)
                + "|"
            )
    return "\n".join(lines)


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
