"""The scenarios: each one measured through the API and through plain Celery.

Every function takes the `Context` and returns its figures as a dict of floats; the first
key listed in the `Scenario` is the headline. Results are checked, so a run that computed
wrong sums or failed tasks is an error, never a fast figure.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from tests.bench.clients import ApiClient, RawCelery
from tests.bench.stack import Stack

__all__ = ["Context", "SCENARIOS", "Scenario", "Sizes", "percentile"]

Figures = dict[str, float]


@dataclass(frozen=True)
class Sizes:
    latency_calls: int = 300
    throughput_adds: int = 5000
    client_threads: int = 16
    group: int = 1000
    chord: int = 1000
    chain: int = 100
    chunk_pairs: int = 100_000
    chunk_size: int = 100
    counted_adds: int = 200

    @classmethod
    def quick(cls) -> Sizes:
        """A smoke run: every code path, small numbers."""
        return cls(30, 300, 4, 50, 50, 10, 2_000, 100, 30)


@dataclass
class Context:
    stack: Stack
    raw: RawCelery
    sizes: Sizes
    _api: ApiClient | None = field(default=None, repr=False)

    @property
    def api(self) -> ApiClient:
        """One keep-alive connection for the sequential scenarios."""
        if self._api is None:
            self._api = ApiClient(self.stack.api_port)
        return self._api


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    keys: tuple[str, ...]  # figures returned; the first is the headline
    unit: str
    higher_is_better: bool
    api: Callable[[Context], Figures]
    raw: Callable[[Context], Figures]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _check(got: Any, expected: Any, what: str) -> None:
    if got != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {got!r}"[:300])


# --- one add, submit to result -----------------------------------------------------------


def _latency(one: Callable[[int], Any], calls: int) -> Figures:
    times = []
    for i in range(calls):
        start = time.perf_counter()
        _check(one(i), i + 1, "add")
        times.append(time.perf_counter() - start)
    return {
        "p50_ms": percentile(times, 50) * 1000,
        "p99_ms": percentile(times, 99) * 1000,
        "mean_ms": sum(times) / len(times) * 1000,
    }


def latency_api(ctx: Context) -> Figures:
    api = ctx.api
    return _latency(lambda i: api.result(api.add(i, 1), wait=5), ctx.sizes.latency_calls)


def latency_raw(ctx: Context) -> Figures:
    return _latency(lambda i: ctx.raw.add_and_get(i, 1), ctx.sizes.latency_calls)


def latency_prefer_wait_api(ctx: Context) -> Figures:
    api = ctx.api
    return _latency(lambda i: api.add_waiting(i, 1), ctx.sizes.latency_calls)


# --- throughput: concurrent clients, submit then read ------------------------------------


def _throughput(ctx: Context, make_client: Callable[[], Callable[[int], Any]]) -> Figures:
    """``client_threads`` threads share ``throughput_adds`` adds; each thread submits one and
    reads its result, then the next. Clients connect and warm up before the clock starts."""
    total, threads = ctx.sizes.throughput_adds, ctx.sizes.client_threads
    counter = itertools.count()
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            one = make_client()
            one(0)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()
            return
        try:
            barrier.wait()
            while (k := next(counter)) < total and not errors:
                _check(one(k), k + 1, "add")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=run, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(timeout=60)
    except threading.BrokenBarrierError:
        pass
    cpu_before = ctx.stack.cpu()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    cpu_after = ctx.stack.cpu()
    if errors:
        raise errors[0]
    figures = {"adds_per_s": total / elapsed, "seconds": elapsed}
    for part, used in cpu_after.items():
        figures[f"cpu_ms_per_add.{part}"] = (used - cpu_before[part]) / total * 1000
    return figures


def throughput_api(ctx: Context) -> Figures:
    def make_client() -> Callable[[int], Any]:
        api = ApiClient(ctx.stack.api_port)
        return lambda k: api.result(api.add(k, 1), wait=5)

    return _throughput(ctx, make_client)


def throughput_raw(ctx: Context) -> Figures:
    return _throughput(ctx, lambda: lambda k: ctx.raw.add_and_get(k, 1))


def throughput_prefer_wait_api(ctx: Context) -> Figures:
    def make_client() -> Callable[[int], Any]:
        api = ApiClient(ctx.stack.api_port)
        return lambda k: api.add_waiting(k, 1)

    return _throughput(ctx, make_client)


# --- canvas: group, chord, chain, chunks -------------------------------------------------


def _pairs(n: int) -> list[list[int]]:
    return [[i, 2 * i] for i in range(n)]


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = run()
    return time.perf_counter() - start, value


def group_api(ctx: Context) -> Figures:
    pairs = _pairs(ctx.sizes.group)

    def run() -> list[Any]:
        return ctx.api.group_results(ctx.api.post("/groups", {"pairs": pairs})["group_id"])

    seconds, results = _timed(run)
    _check(results, [3 * i for i in range(len(pairs))], "group results")
    return {"seconds": seconds}


def group_raw(ctx: Context) -> Figures:
    pairs = _pairs(ctx.sizes.group)
    seconds, results = _timed(lambda: ctx.raw.group(pairs))
    _check(results, [3 * i for i in range(len(pairs))], "group results")
    return {"seconds": seconds}


def chord_api(ctx: Context) -> Figures:
    pairs = _pairs(ctx.sizes.chord)

    def run() -> Any:
        return ctx.api.result(ctx.api.post("/chords", {"pairs": pairs})["task_id"], wait=30)

    seconds, total = _timed(run)
    _check(total, sum(3 * i for i in range(len(pairs))), "chord sum")
    return {"seconds": seconds}


def chord_raw(ctx: Context) -> Figures:
    pairs = _pairs(ctx.sizes.chord)
    seconds, total = _timed(lambda: ctx.raw.chord(pairs))
    _check(total, sum(3 * i for i in range(len(pairs))), "chord sum")
    return {"seconds": seconds}


def chain_api(ctx: Context) -> Figures:
    numbers = list(range(ctx.sizes.chain + 1))

    def run() -> Any:
        return ctx.api.result(ctx.api.post("/chains", {"numbers": numbers})["task_id"], wait=30)

    seconds, total = _timed(run)
    _check(total, sum(numbers), "chain sum")
    return {"seconds": seconds}


def chain_raw(ctx: Context) -> Figures:
    numbers = list(range(ctx.sizes.chain + 1))
    seconds, total = _timed(lambda: ctx.raw.chain(numbers))
    _check(total, sum(numbers), "chain sum")
    return {"seconds": seconds}


def _flat(results: list[Any]) -> list[Any]:
    """Per-pair results, whether the API lists them per pair or per chunk."""
    if results and all(isinstance(item, list) for item in results):
        return [value for batch in results for value in batch]
    return results


def chunks_api(ctx: Context) -> Figures:
    pairs, size = _pairs(ctx.sizes.chunk_pairs), ctx.sizes.chunk_size

    def run() -> list[Any]:
        body = {"pairs": pairs, "chunk_size": size}
        return ctx.api.group_results(ctx.api.post("/groups", body)["group_id"])

    seconds, results = _timed(run)
    _check(_flat(results), [3 * i for i in range(len(pairs))], "chunked group results")
    return {"seconds": seconds}


def chunks_raw(ctx: Context) -> Figures:
    pairs, size = _pairs(ctx.sizes.chunk_pairs), ctx.sizes.chunk_size
    seconds, results = _timed(lambda: ctx.raw.chunks(pairs, size))
    _check(results, [3 * i for i in range(len(pairs))], "chunked group results")
    return {"seconds": seconds}


# --- Redis commands per add ---------------------------------------------------------------

#: Our own INFO calls are not part of what is measured.
_NOT_COUNTED = frozenset({"info"})


def _calls(client: redis.Redis) -> Counter[str]:
    stats = client.info("commandstats")
    return Counter(
        {
            name.removeprefix("cmdstat_"): value["calls"]
            for name, value in stats.items()
            if name.removeprefix("cmdstat_") not in _NOT_COUNTED
        }
    )


def _commands_per_add(ctx: Context, one: Callable[[int], Any]) -> Figures:
    """Commands Redis ran per add (client and worker together), minus the idle background
    (heartbeats, BRPOP timeouts) measured for one second just before."""
    client = ctx.stack.redis()
    n = ctx.sizes.counted_adds
    before_idle = _calls(client)
    time.sleep(1.0)
    idle_rate = (_calls(client) - before_idle).total()
    before = _calls(client)
    start = time.perf_counter()
    for i in range(n):
        _check(one(i), i + 1, "add")
    time.sleep(0.3)  # let the worker acknowledge the last message
    elapsed = time.perf_counter() - start
    used = _calls(client) - before
    client.close()
    figures = {"per_add": (used.total() - idle_rate * elapsed) / n}
    figures.update({f"cmd.{name}": count / n for name, count in sorted(used.items())})
    return figures


def commands_api(ctx: Context) -> Figures:
    api = ctx.api
    return _commands_per_add(ctx, lambda i: api.result(api.add(i, 1), wait=5))


def commands_raw(ctx: Context) -> Figures:
    return _commands_per_add(ctx, lambda i: ctx.raw.add_and_get(i, 1))


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "latency",
        "one add, submit to result",
        ("p50_ms", "p99_ms", "mean_ms"),
        "ms",
        False,
        latency_api,
        latency_raw,
    ),
    Scenario(
        "throughput",
        "adds by concurrent clients, results read",
        ("adds_per_s", "seconds"),
        "adds/s",
        True,
        throughput_api,
        throughput_raw,
    ),
    # The same two, with clients that ask for the sum in the POST's answer (Prefer: wait)
    # instead of a second request; plain Celery is measured again, interleaved.
    Scenario(
        "latency_prefer_wait",
        "one add in one request (Prefer: wait)",
        ("p50_ms", "p99_ms", "mean_ms"),
        "ms",
        False,
        latency_prefer_wait_api,
        latency_raw,
    ),
    Scenario(
        "throughput_prefer_wait",
        "adds by concurrent clients, one request each (Prefer: wait)",
        ("adds_per_s", "seconds"),
        "adds/s",
        True,
        throughput_prefer_wait_api,
        throughput_raw,
    ),
    Scenario("group", "group of adds", ("seconds",), "s", False, group_api, group_raw),
    Scenario("chord", "chord of adds, summed", ("seconds",), "s", False, chord_api, chord_raw),
    Scenario("chain", "chain of adds", ("seconds",), "s", False, chain_api, chain_raw),
    Scenario("chunks", "pairs in chunks of 100", ("seconds",), "s", False, chunks_api, chunks_raw),
    Scenario(
        "redis_cmds",
        "Redis commands per add (client + worker)",
        ("per_add",),
        "commands",
        False,
        commands_api,
        commands_raw,
    ),
)
