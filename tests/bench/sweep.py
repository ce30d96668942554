"""``python -m tests.bench.sweep``: the same scenarios under several settings, in rounds.

Each configuration is a string of ``NAME=VALUE`` environment settings and extra worker
arguments, e.g. ``"WEB_WORKERS=4 WEB_THREADS=4"`` or ``"--prefetch-multiplier 4"``, or
``web-app=bare`` / ``web-app=flask`` for the floor apps (tests/bench/floor.py). Every
round runs each configuration once (a whole `make bench` stack each time, --reps runs per path),
so a busy machine slows all of them alike; the table shows medians over the rounds. This is
how the defaults in `config/` were chosen (README, Performance).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: (scenario, figure, column title) shown for every configuration.
COLUMNS = (
    ("throughput", "adds_per_s", "adds/s"),
    ("latency", "p50_ms", "p50 ms"),
    ("latency", "p99_ms", "p99 ms"),
    ("throughput_prefer_wait", "adds_per_s", "adds/s, Prefer: wait"),
)

#: Throughput scenarios whose CPU per add is shown, with the suffix of their columns.
CPU_COLUMNS = (("throughput", ""), ("throughput_prefer_wait", ", Prefer: wait"))


#: A config token for the benchmark itself (``web-app=bare`` → ``--web-app=bare``). It has no
#: leading dashes so that argparse does not take ``--config "web-app=bare"`` for an option.
WEB_APP_OPTION = "web-app="


def _split(config: str) -> tuple[list[str], list[str], list[str]]:
    """(environment settings, worker arguments, benchmark arguments) of one configuration."""
    env, worker_args, bench_args = [], [], []
    for token in shlex.split(config):
        if token.startswith(WEB_APP_OPTION):
            bench_args.append(f"--{token}")
        elif "=" in token and not token.startswith("-"):
            env.append(token)
        else:
            worker_args.append(token)
    return env, worker_args, bench_args


def _run(config: str, only: str, sizes: list[str], reps: int, out: Path) -> dict[str, Any]:
    env, worker_args, bench_args = _split(config)
    command = [sys.executable, "-m", "tests.bench", "--reps", str(reps), "--only", only]
    command += [*bench_args, "--json", str(out), "--worker-args", shlex.join(worker_args)]
    for item in env:
        command += ["--env", item]
    for item in sizes:
        command += ["--size", item]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def _figures(document: dict[str, Any]) -> dict[str, float]:
    found: dict[str, float] = {}
    for scenario, key, title in COLUMNS:
        paths = document["scenarios"].get(scenario)
        if not paths:
            continue
        for path in ("api", "raw"):
            value = paths[path]["median"].get(key)
            if value is not None:
                found[f"{path} {title}"] = value
        api, raw = found.get(f"api {title}"), found.get(f"raw {title}")
        if api is not None and raw:
            found[f"API/raw {title}"] = api / raw
    for scenario, suffix in CPU_COLUMNS:
        throughput = document["scenarios"].get(scenario)
        if not throughput:
            continue
        for path in ("api", "raw"):
            median = throughput[path]["median"]
            cpu = [v for k, v in median.items() if k.startswith("cpu_ms_per_add.")]
            if cpu:
                found[f"{path} CPU ms/add{suffix}"] = sum(cpu)
        api_cpu = throughput["api"]["median"].get("cpu_ms_per_add.api")
        if api_cpu is not None:
            found[f"web server CPU ms/add{suffix}"] = api_cpu
    for role, peak in document["memory_kib"].items():
        found[f"{role} MiB"] = peak["total"] / 1024
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.sweep", description=__doc__)
    parser.add_argument("--config", action="append", required=True, help="repeatable")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--reps", type=int, default=2, help="runs per path in each stack")
    parser.add_argument("--only", default="throughput,latency")
    parser.add_argument("--size", action="append", default=[], metavar="NAME=N")
    args = parser.parse_args(argv)
    runs: dict[str, list[dict[str, float]]] = {config: [] for config in args.config}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for index, config in enumerate(args.config):
                out = Path(tmp) / f"{round_}-{index}.json"
                figures = _figures(_run(config, args.only, args.size, args.reps, out))
                runs[config].append(figures)
                shown = ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
                print(f"round {round_ + 1} [{config or 'defaults'}]: {shown}", file=sys.stderr)
    keys = list(dict.fromkeys(k for results in runs.values() for r in results for k in r))
    print("| configuration | " + " | ".join(keys) + " |")
    print("|---|" + "---:|" * len(keys))
    for config, results in runs.items():
        cells = []
        for key in keys:
            values = [r[key] for r in results if key in r]
            cells.append(f"{statistics.median(values):.2f}" if values else "—")
        print(f"| {config or 'defaults'} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
