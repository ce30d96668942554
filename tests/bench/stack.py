"""The processes under test: a private Redis, a worker and the API, started as `make run` does.

The worker runs the Procfile's command (``celery -A workflows worker``) and the API the
Procfile's web command (``python -m api.serve``), with only REDIS_URL, PORT,
ADD_DELAY_SECONDS=0 and a rate limit no run reaches in the environment, so whatever defaults
`config/` holds are what gets measured.
"""

from __future__ import annotations

import http.client
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from config.redis_server import RedisServer, free_port
from tests.support import BIN, Service, eventually, service_env

__all__ = ["Stack", "peak_rss_kib", "process_tree", "running_stack", "wait_idle"]

#: The rate limiter stays on (its cost is part of what the API adds) with a budget no run
#: reaches: the default 100 submissions a second per client would throttle the benchmark.
UNTHROTTLED = "1000000/second"

#: The Procfile's worker and web commands, minus the wait for Redis (ours is up already).
WORKER_COMMAND = [str(BIN / "celery"), "-A", "workflows", "worker", "--loglevel", "INFO"]
WEB_COMMAND = [str(BIN / "python"), "-m", "api.serve"]


def process_tree(root: int) -> list[int]:
    """``root`` and every descendant of it that is still alive (read from /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss_kib(root: int) -> dict[str, int]:
    """Peak resident memory (VmHWM) of a process tree: summed, and of each process.

    Forked children share pages with their parent, so the sum over-counts a little: it is
    what the processes would need without sharing, an upper bound.
    """
    per_pid = {pid: _status_kib(pid, "VmHWM") for pid in process_tree(root)}
    return {"total": sum(per_pid.values()), "processes": len(per_pid)}


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root: int) -> float:
    """User + system CPU time used so far by a process tree (live processes only)."""
    total = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


@dataclass
class Stack:
    redis_server: RedisServer
    worker: Service
    web: Service
    api_port: int
    logs: Path

    @property
    def redis_url(self) -> str:
        return self.redis_server.url

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url)

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each part: API, worker, Redis, and this client."""
        assert self.redis_server.process is not None
        me = os.times()
        return {
            "api": cpu_seconds(self.web.pid),
            "worker": cpu_seconds(self.worker.pid),
            "redis": cpu_seconds(self.redis_server.process.pid),
            "client": me.user + me.system,
        }

    def memory(self) -> dict[str, dict[str, int]]:
        return {"api": peak_rss_kib(self.web.pid), "worker": peak_rss_kib(self.worker.pid)}


def _api_answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False


def _worker_answers(url: str) -> bool:
    probe = Celery("bench-probe", broker=url, set_as_current=False)
    try:
        return bool(probe.control.ping(timeout=0.5))
    finally:
        probe.close()


@contextmanager
def running_stack(
    logs: Path,
    env: Mapping[str, Any] | None = None,
    worker_args: Sequence[str] = (),
    web_app: str | None = None,
) -> Iterator[Stack]:
    """Start Redis (free port, no persistence), one worker and the API; stop them after.

    ``env`` is added to both processes' environment and ``worker_args`` to the worker's
    command line: for trying other settings (``make bench BENCH_ARGS=...``). ``web_app``
    (``module:factory``) replaces sumflow's app under the same server and settings.
    """
    logs.mkdir(parents=True, exist_ok=True)
    server = RedisServer(log_file=logs / "redis.log").start()
    started: list[Service] = []
    try:
        port = free_port()
        extra = {"ADD_DELAY_SECONDS": 0, "RATE_LIMIT": UNTHROTTLED, **(env or {})}
        worker_env = service_env(server.url, **extra)
        worker = Service([*WORKER_COMMAND, *worker_args], worker_env, logs / "worker.log")
        started.append(worker.start())
        web_env = service_env(server.url, PORT=port, **extra)
        web_command = [*WEB_COMMAND, web_app] if web_app else WEB_COMMAND
        web = Service(web_command, web_env, logs / "web.log")
        started.append(web.start())
        for service, ready, what in (
            (web, lambda: _api_answers(port), "the API"),
            (worker, lambda: _worker_answers(server.url), "the worker"),
        ):
            try:
                eventually(ready, timeout=60, interval=0.2, what=what)
            except AssertionError:
                tail = service.log()[-3000:]
                raise RuntimeError(f"{what} did not start; its log:\n{tail}") from None
        yield Stack(server, worker, web, port, logs)
    finally:
        for service in reversed(started):
            service.stop()
        server.stop()


def wait_idle(client: redis.Redis, queues: tuple[str, ...] = ("default", "priority")) -> None:
    """Block until no message waits or is unacknowledged, so runs do not overlap."""

    def idle() -> bool:
        waiting = sum(client.llen(q) for q in queues)
        return waiting == 0 and client.zcard("unacked_index") == 0

    eventually(idle, timeout=120, interval=0.05, what="the queues to drain")
    time.sleep(0.05)
