"""gunicorn settings for `make run` (and `make bench`): `gunicorn -c python:config.gunicorn_conf`.

Threaded workers (gthread) because ``GET /result?wait=N`` holds a request open for up to 30 s:
with sync workers a handful of waiting clients would block everyone else.

Metrics: each gunicorn worker is its own process, so prometheus_client runs in multiprocess
mode. Every worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR and ``/metrics``
adds them up, whichever worker answers. The directory is made here (a temporary one unless set)
before any worker imports prometheus_client, which reads the variable once at import.
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from config import load_settings
from config.logging_config import gunicorn_logconfig

_settings = load_settings()

_metrics_dir = _settings.prometheus_multiproc_dir
_own_metrics_dir = not _metrics_dir
if _own_metrics_dir:
    _metrics_dir = tempfile.mkdtemp(prefix="sumflow-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir

wsgi_app = "api:create_app()"
bind = f"{_settings.host}:{_settings.port}"
workers = _settings.web_workers
worker_class = "gthread"
threads = _settings.web_threads
timeout = 60  # longer than the longest ?wait (30 s)
graceful_timeout = 10
keepalive = 5
# gunicorn 24+ opens a control socket at ~/.gunicorn/gunicorn.ctl: one path shared by every
# gunicorn of the user, so two instances (make run beside the tests) would take it from each
# other. sumflow does not use it.
control_socket_disable = True
# HTTPS when TLS_CERT_FILE and TLS_KEY_FILE are set (else plain HTTP, e.g. behind a proxy).
if _settings.tls_cert_file:
    certfile = _settings.tls_cert_file
    keyfile = _settings.tls_key_file
logconfig_dict = gunicorn_logconfig(_settings)
# gunicorn touches a heartbeat file on every turn of its event loop (two per request); on
# tmpfs that is a memory write, on a disk-backed /tmp a filesystem metadata update
# (gunicorn's docs: "Blocking OS calls"). make bench: -2% API CPU per add on /dev/shm.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"


def on_starting(server: Any) -> None:
    """Start from zero: files left by an earlier run would add old counts to the new ones."""
    Path(_metrics_dir).mkdir(parents=True, exist_ok=True)
    for stale in Path(_metrics_dir).glob("*.db"):
        stale.unlink()


def child_exit(server: Any, worker: Any) -> None:
    """A worker died: drop its live gauges (its counters stay, so totals never go back)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _metrics_dir)


def on_exit(server: Any) -> None:
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
