"""gunicorn settings for `make run` (and `make bench`): `gunicorn -c python:config.gunicorn_conf`.

Threaded workers (gthread) because ``GET /result?wait=N`` holds a request open for up to 30 s:
with sync workers a handful of waiting clients would block everyone else.
"""

import os

from config import load_settings

_settings = load_settings()

wsgi_app = "api:create_app()"
bind = f"{_settings.host}:{_settings.port}"
workers = _settings.web_workers
worker_class = "gthread"
threads = _settings.web_threads
timeout = 60  # longer than the longest ?wait (30 s)
graceful_timeout = 10
keepalive = 5
# gunicorn touches a heartbeat file on every turn of its event loop (two per request); on
# tmpfs that is a memory write, on a disk-backed /tmp a filesystem metadata update
# (gunicorn's docs: "Blocking OS calls"). make bench: -2% API CPU per add on /dev/shm.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
