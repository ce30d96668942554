"""`make run`'s Procfile under honcho, stopped as a Ctrl-C stops it."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest
import redis

from config.redis_server import RedisServer, free_port, ping
from tests.conftest import Sums
from tests.support import BIN, ROOT, AppBuilder, Service, eventually, service_env

pytestmark = pytest.mark.integration


def test_ctrl_c_lets_the_running_add_finish_before_the_embedded_redis_stops(
    tmp_path: Path,
    build_app: AppBuilder,
) -> None:
    """honcho stops every process at once. The embedded Redis used to stop with the worker,
    and the add the worker was finishing then stayed STARTED for the visibility timeout."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    env = service_env(url, ADD_DELAY_SECONDS=1, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    # As `make run` runs it, from a directory of its own: its Redis keeps data in var/redis.
    honcho = [str(BIN / "honcho"), "start", "-f", str(ROOT / "Procfile"), "--env", "/dev/null"]
    run = Service([*honcho, "redis", "worker"], env, tmp_path / "make-run.log", cwd=tmp_path)
    run.start()
    assert run.process is not None
    try:
        sums = Sums(build_app({"redis_url": url}).test_client())
        eventually(lambda: ping(url), what="the embedded Redis")
        task_id = sums.submit(20, 22)
        eventually(lambda: sums.result(task_id)["status"] == "STARTED", what="the add to start")

        os.kill(run.process.pid, signal.SIGINT)  # Ctrl-C
        assert run.process.wait(timeout=20) == 130
    finally:
        run.stop()
    assert not ping(url), "redis-server outlived make run"

    # The worker's lines read as the API's do (config.logging_config.TEXT_FORMAT), not in
    # Celery's own "[2026-01-01 00:00:00,000: INFO/ForkPoolWorker-1] ..." layout.
    outcome = re.compile(
        r"worker\.1 +\| \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[\d+\] \[INFO\] "
        rf"sumflow\.tasks: task sumflow\.add\[{task_id}\] SUCCESS queue=default$",
        re.MULTILINE,
    )
    assert outcome.search(run.log()), run.log()

    # The next `make run` finds the add done and nothing left to deliver again.
    server = RedisServer(port=port, data_dir=tmp_path / "var" / "redis").start()
    try:
        assert sums.result(task_id) == {"status": "SUCCESS", "result": 42}
        assert redis.Redis.from_url(url).hlen("unacked") == 0
    finally:
        server.stop()
