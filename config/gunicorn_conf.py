"""gunicorn settings for `make run` (and `make bench`): `gunicorn -c python:config.gunicorn_conf`.

Threaded workers (gthread) because ``GET /result?wait=N`` holds a request open for up to 30 s:
with sync workers a handful of waiting clients would block everyone else.
"""

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
# gunicorn 24+ opens a control socket at ~/.gunicorn/gunicorn.ctl: one path shared by every
# gunicorn of the user, so two instances (make run beside the tests) would take it from each
# other. sumflow does not use it.
control_socket_disable = True
# HTTPS when TLS_CERT_FILE and TLS_KEY_FILE are set (else plain HTTP, e.g. behind a proxy).
if _settings.tls_cert_file:
    certfile = _settings.tls_cert_file
    keyfile = _settings.tls_key_file
