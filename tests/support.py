"""Helpers for integration tests: real worker and beat processes, and polling for outcomes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from celery import Celery
from flask import Flask

from api import close_app, create_app

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

#: The `build_app` fixture: builds an app from a Settings, or overrides of its fields, as
#: `create_app` does, and closes it when the test ends.
AppBuilder = Callable[[Any], Flask]


def eventually(
    probe: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.05, what: str = ""
) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or probe}")
        time.sleep(interval)


def logged(read: Callable[[], str], *lines: str, timeout: float = 15.0) -> str:
    """The log ``read`` returns, once it holds each of ``lines``. A worker stores a task's
    outcome before its pool process logs it ("Task ... succeeded" comes after the SUCCESS is
    stored, the task_success signal and on_success): a log read as soon as the result shows
    may not hold the line yet."""

    def holding() -> str:
        log = read()
        return log if all(line in log for line in lines) else ""

    return eventually(holding, timeout=timeout, what=f"the log to hold {lines}")


def service_env(redis_url: str, **extra: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "FLASK_"))}
    env.update(REDIS_URL=redis_url, PYTHONUNBUFFERED="1")
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Service:
    """A subprocess with its output in a log file, stopped politely or killed on purpose."""

    def __init__(
        self, args: list[str], env: Mapping[str, str], log: Path, cwd: Path = ROOT
    ) -> None:
        self.args, self.env, self.log_path, self.cwd = args, dict(env), log, cwd
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.args,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def ready_when(
        self, probe: Callable[[], object], what: str, *, timeout: float = 30, interval: float = 0.05
    ) -> Service:
        """Wait for ``probe`` to pass; if it never does, stop the process and fail with its log.
        Left running, it would outlive the test, and its Popen, collected during a later test,
        would fail that one with a ResourceWarning (`filterwarnings = error`)."""
        try:
            eventually(probe, timeout=timeout, interval=interval, what=what)
        except AssertionError as error:
            self.stop()
            raise AssertionError(f"{error}; its log:\n{self.log()}") from None
        return self

    def children(self) -> list[int]:
        """Pids of the direct children (the prefork pool processes of a worker)."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill(self) -> None:
        """SIGKILL the whole process group: no goodbye, no acknowledgements."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def worker_command(
    name: str, queues: Iterable[str], concurrency: int = 2, include: Iterable[str] = ()
) -> list[str]:
    """The worker as `make run` starts it; ``include`` adds modules of test-only tasks."""
    return [
        str(BIN / "celery"),
        "-A",
        "workflows",
        "worker",
        "-n",
        f"{name}@%h",
        "-Q",
        ",".join(queues),
        "-c",
        str(concurrency),
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        *(f"--include={module}" for module in include),
    ]


def beat_command(
    max_interval: int = 1, *, scheduler: str | None = "redbeat.RedBeatScheduler"
) -> list[str]:
    """The beat as the Procfile starts it; ``scheduler=None`` leaves out ``-S``."""
    return [
        str(BIN / "celery"),
        "-A",
        "workflows",
        "beat",
        *(("-S", scheduler) if scheduler else ()),
        "--loglevel",
        "INFO",
        "--max-interval",
        str(max_interval),
    ]


def wait_for_worker(celery: Celery, name: str, timeout: float = 30.0) -> None:
    """Block until the worker ``name`` answers a ping, so it is consuming its queues. The ping
    goes to that worker alone (``-n name@%h``: this host's name), so its answer ends the wait
    at once; a ping to all waits out its whole timeout for answers that may yet come."""
    node = f"{name}@{socket.gethostname()}"

    def answered() -> bool:
        replies = celery.control.ping(destination=[node], timeout=0.3) or []
        return any(node in reply for reply in replies)

    eventually(answered, timeout=timeout, interval=0.1, what=f"worker {name} to answer")


def api_command() -> list[str]:
    """The API as `make run` serves it (the Procfile's web command)."""
    return [str(BIN / "python"), "-m", "api.serve"]


def http_answers(url: str) -> bool:
    """True once ``url`` answers HTTP at all (any status)."""
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def start_api(redis_url: str, log: Path, **env: Any) -> tuple[Service, str]:
    """Start the API as `make run` does, on a free port; return it and its base URL."""
    from config.redis_server import free_port

    port = free_port()
    service = Service(api_command(), service_env(redis_url, PORT=port, **env), log).start()
    url = f"http://127.0.0.1:{port}"
    service.ready_when(lambda: http_answers(f"{url}/openapi.json"), "the API")
    return service, url


@contextmanager
def sumflow_app(config: Any) -> Iterator[Flask]:
    """``create_app(config)`` for the block, closed when it ends: for fixtures wider than a
    test, where the `build_app` fixture cannot go."""
    app = create_app(config)
    try:
        yield app
    finally:
        close_app(app)
