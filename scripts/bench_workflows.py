"""Measure large workflows end to end through the HTTP API, on this machine.

Starts a private redis-server on a free port, one worker (ADD_DELAY_SECONDS=0) and the API
under gunicorn, all on 127.0.0.1, then times, via HTTP only:

* a 100,000-pair chunked group: POST /groups, then GET /groups/<id> until every result is
  in (each run checks every sum);
* a 10,000-pair group without chunks, a 1,000-pair chord and a 1,000-number chain;
* how fast oversized requests are refused (a 400,000-pair body, a 9 MiB body).

    .venv/bin/python scripts/bench_workflows.py [--runs 3] [--chunk-size 100]

Every loop is bounded; everything is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.redis_server import RedisServer, free_port  # noqa: E402

BIN = Path(sys.executable).parent


def call(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def wait_until(probe: Any, timeout: float, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"gave up after {timeout} s")


def group_done(base: str, group_id: str) -> dict[str, Any] | None:
    status, body = call("GET", f"{base}/groups/{group_id}")
    assert status == 200, body
    return body if body["status"] not in ("PENDING", "STARTED") else None


def result_done(base: str, task_id: str) -> dict[str, Any] | None:
    status, body = call("GET", f"{base}/result/{task_id}?wait=10")
    assert status == 200, body
    return body if body["status"] in ("SUCCESS", "FAILURE", "REVOKED") else None


def timed_group(base: str, pairs: list[list[int]], chunk_size: int | None) -> tuple[float, float]:
    payload: dict[str, Any] = {"pairs": pairs}
    if chunk_size:
        payload["chunk_size"] = chunk_size
    data = json.dumps(payload).encode()
    started = time.perf_counter()
    status, body = call("POST", f"{base}/groups", data)
    submitted = time.perf_counter() - started
    assert status == 202, body
    final = wait_until(lambda: group_done(base, body["group_id"]), timeout=600)
    total = time.perf_counter() - started
    assert final["status"] == "SUCCESS", final["status"]
    assert final["results"] == [a + b for a, b in pairs], "wrong or misordered results"
    return submitted, total


def timed_task(base: str, path: str, payload: dict[str, Any], expected: Any) -> float:
    started = time.perf_counter()
    status, body = call("POST", f"{base}{path}", json.dumps(payload).encode())
    assert status == 202, body
    final = wait_until(lambda: result_done(base, body["task_id"]), timeout=600, interval=0)
    assert final == {"status": "SUCCESS", "result": expected}, final
    return time.perf_counter() - started


def timed_refusal(base: str, data: bytes, expected: int) -> float:
    started = time.perf_counter()
    status, _ = call("POST", f"{base}/groups", data)
    assert status == expected, status
    return time.perf_counter() - started


def timed_headers_only_refusal(port: int, length: int) -> float:
    """Send only the headers of a ``length``-byte POST: the 413 must come without the body."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("POST", "/groups")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(length))
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413, response.status
    response.read()
    connection.close()
    return time.perf_counter() - started


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s (runs: {', '.join(f'{v:.2f}' for v in values)})"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()

    redis_server = RedisServer().start()
    port = free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "ADD_DELAY_SECONDS": "0",
        "PORT": str(port),
        "WORKER_CONCURRENCY": str(args.concurrency),
        "PYTHONUNBUFFERED": "1",
    }
    logs = open(ROOT / "var" / "bench-workflows.log", "ab") if (ROOT / "var").is_dir() else None
    out = logs or subprocess.DEVNULL
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "workflows", "worker", "-Q", "default,priority",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=out, stderr=out,
    )  # fmt: skip
    web = subprocess.Popen(
        [str(BIN / "gunicorn"), "-c", "python:config.gunicorn_conf"],
        cwd=ROOT, env=env, stdout=out, stderr=out,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _health(base), timeout=30, interval=0.2)
        pairs = [[i, 2 * i] for i in range(100_000)]
        # Warm up: first imports and connections in the web and worker processes.
        timed_group(base, pairs[:2_000], 100)

        runs = [timed_group(base, pairs, args.chunk_size) for _ in range(args.runs)]
        print(f"100,000 pairs, chunk_size {args.chunk_size}, worker -c {args.concurrency}:")
        print(f"  submit (POST /groups, 202):           {median([r[0] for r in runs])}")
        print(f"  end to end (all 100,000 sums read):   {median([r[1] for r in runs])}")
        big = [timed_group(base, pairs, 1000) for _ in range(args.runs)]
        print(f"  same with chunk_size 1000, end to end: {median([r[1] for r in big])}")

        plain = [timed_group(base, pairs[:10_000], None) for _ in range(args.runs)]
        print("10,000 pairs, one task each:")
        print(f"  submit:       {median([r[0] for r in plain])}")
        print(f"  end to end:   {median([r[1] for r in plain])}")

        chord_pairs = pairs[:1_000]
        expected = sum(a + b for a, b in chord_pairs)
        chords = [timed_task(base, "/chords", {"pairs": chord_pairs}, expected)]
        chords += [timed_task(base, "/chords", {"pairs": chord_pairs}, expected)]
        print(f"chord of 1,000 pairs, end to end:       {median(chords)}")
        numbers = list(range(1_000))
        chains = [timed_task(base, "/chains", {"numbers": numbers}, sum(numbers))]
        print(f"chain of 1,000 numbers, end to end:     {median(chains)}")

        many = json.dumps({"pairs": [[1, 2]] * 400_000, "chunk_size": 1000}).encode()
        print(
            f"400,000-pair body ({len(many) / 2**20:.1f} MiB) refused with 422 in "
            f"{median([timed_refusal(base, many, 422) for _ in range(3)])}"
        )
        refusals = [timed_headers_only_refusal(port, 9 * 2**20) for _ in range(3)]
        print(f"9 MiB body refused with 413 from its headers alone in {median(refusals)}")
    finally:
        for process in (web, worker):
            process.terminate()
        for process in (web, worker):
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        redis_server.stop()
        if logs:
            logs.close()
    return 0


def _health(base: str) -> bool:
    try:
        return call("GET", f"{base}/health")[0] == 200
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
