"""``python -m tests.bench``: start the stack, run every scenario both ways, report."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from api.serve import APP_FACTORY
from tests.bench.clients import RawCelery
from tests.bench.report import machine, ratios, render_table, write_json
from tests.bench.runner import run_all, warm_up
from tests.bench.scenarios import SCENARIOS, Context, Sizes
from tests.bench.stack import running_stack

#: ``--web-app`` choices: the floor apps of tests/bench/floor.py.
FLOOR_APPS = {"bare": "tests.bench.floor:bare", "flask": "tests.bench.floor:flask"}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    names = ", ".join(s.name for s in SCENARIOS)
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--reps", type=int, default=2, help="runs per path (default 2: A B B A)")
    parser.add_argument("--only", default="", help=f"comma-separated scenarios among: {names}")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--json", default="bench-results.json", type=Path, help="output file")
    parser.add_argument("--logs", type=Path, help="directory for process logs (default: temp)")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the worker and the API, e.g. WEB_THREADS=4 (repeatable)",
    )
    parser.add_argument(
        "--worker-args",
        default="",
        metavar="ARGS",
        help="extra arguments for the worker's command line, e.g. '--prefetch-multiplier 4'",
    )
    parser.add_argument(
        "--web-app",
        choices=sorted(FLOOR_APPS),
        help="serve a floor app instead of sumflow's (tests/bench/floor.py): what the API "
        "would cost without Flask (bare) or with plain Flask routes (flask)",
    )
    parser.add_argument(
        "--size",
        action="append",
        default=[],
        metavar="NAME=N",
        help="override one size, e.g. throughput_adds=2000 (repeatable; see Sizes)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    wanted = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(wanted) - {s.name for s in SCENARIOS}
    if unknown:
        print(f"unknown scenarios: {', '.join(sorted(unknown))}", file=sys.stderr)
        return 2
    scenarios = [s for s in SCENARIOS if not wanted or s.name in wanted]
    sizes = Sizes.quick() if args.quick else Sizes()
    sizes = replace(sizes, **{k: int(v) for k, v in (item.split("=", 1) for item in args.size)})
    env = dict(item.split("=", 1) for item in args.env)
    logs = args.logs or Path(tempfile.mkdtemp(prefix="sumflow-bench-"))
    began = time.perf_counter()
    print(f"sumflow bench: logs in {logs}", file=sys.stderr, flush=True)
    web_app = FLOOR_APPS[args.web_app] if args.web_app else None
    with running_stack(logs, env, shlex.split(args.worker_args), web_app) as stack:
        raw = RawCelery(stack.redis_url)
        ctx = Context(stack, raw, sizes)
        try:
            warm_up(ctx)
            outcomes = run_all(ctx, scenarios, args.reps)
            memory = stack.memory()
        finally:
            raw.close()
    found = ratios(outcomes)
    document = {
        "machine": machine(),
        "sizes": asdict(sizes),
        "reps": args.reps,
        "env": env,
        "worker_args": args.worker_args,
        "web_app": web_app or APP_FACTORY,
        "seconds": round(time.perf_counter() - began, 1),
        "scenarios": {
            name: {path: outcome.as_json() for path, outcome in paths.items()}
            for name, paths in outcomes.items()
        },
        "memory_kib": memory,
        "ratios": found,
    }
    write_json(args.json, document)
    info = document["machine"]
    print()
    print(
        f"sumflow bench on {info['nproc']} cores, {info['cpu']}, Python {info['python']}; "
        f"medians of {args.reps} interleaved runs per path; {document['seconds']} s in all"
    )
    print()
    print(render_table(scenarios, outcomes, memory, sizes))
    print()
    print(f"figures written to {args.json}")
    for name, value in found.items():
        print(f"ratio {name} {'n/a' if value is None else f'{value:.3f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
