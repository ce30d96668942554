"""One immutable Settings object, parsed from environment variables with explicit defaults.

Every process (API, worker, beat, tests) builds its settings here, so they cannot disagree.
Each variable is listed in `.env.example` and in the README's configuration table.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from limits import parse_many

from config.retry_policies import BUILTIN_POLICIES, RetryPolicy
from config.trusted_hosts import resolve_trusted_hosts

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "SSL_CERT_REQS",
    "ConfigError",
    "Settings",
    "load_settings",
    "settings_or_exit",
]

#: Accepted values of REDIS_SSL_CERT_REQS (redis-py's names for ssl.CERT_*).
SSL_CERT_REQS = ("required", "optional", "none")
LOG_FORMATS = ("text", "json")
#: Celery's pool names (``celery.concurrency.ALIASES``); prefork is sumflow's mended one.
WORKER_POOLS = ("prefork", "threads", "solo", "processes", "eventlet", "gevent", "custom")
#: Accepted values of LOG_LEVEL: the logging module's level names.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The longest a duration setting may be: 100 years. Far beyond that, Redis refuses the
#: expiry (results, the beat's lock) and Python's sleeps and clocks overflow (292 years); each
#: such value used to start every process and then fail every request with a 503.
MAX_SECONDS = 100 * 365 * 86_400


class ConfigError(ValueError):
    """An environment variable holds a value sumflow cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    # --- Redis: broker, result backend and RedBeat store share one server.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Seconds a client waits to connect to / hear from Redis before the API answers 503.
    redis_timeout_seconds: float = 1.0
    # TLS, for rediss:// URLs only: how strictly the server's certificate is checked
    # (required | optional | none), the CA bundle to check it with (default: the system's),
    # and a client certificate and key for servers that ask for one.
    redis_ssl_cert_reqs: str = "required"
    redis_ssl_ca_certs: str | None = None
    redis_ssl_certfile: str | None = None
    redis_ssl_keyfile: str | None = None

    # --- The add task.
    add_delay_seconds: float = 3.0  # simulated work, as in the original study guide

    # --- Results and task bookkeeping.
    result_expires_seconds: int = 86_400  # results, issued ids and revokes are kept one day

    # --- Delivery. A message not acknowledged within this time is handed to another worker.
    # Every countdown and retry delay is kept under half of it (celery#4400).
    visibility_timeout_seconds: int = 600
    # Deliveries of one message before it is failed instead of requeued: a task that kills
    # its worker every time would otherwise be redelivered forever (workflows.deliveries).
    max_deliveries: int = 5

    # --- Routing.
    queues: tuple[str, ...] = ("default", "priority")
    default_queue: str = "default"

    # --- Retry policies.
    retry_policies: Mapping[str, RetryPolicy] = field(default_factory=lambda: BUILTIN_POLICIES)
    default_retry_policy: str = "default"

    # --- Schedules (RedBeat). Runs kept per schedule in its history (newest first).
    schedule_runs_kept: int = 100
    # Schedules stored at most: each is a client's standing order, run outside RATE_LIMIT.
    max_schedules: int = 1000
    # Seconds the beat's lock outlives a beat that died without releasing it: a second beat
    # takes over after this long. The running beat renews it every tick (about once a second).
    beat_lock_timeout_seconds: int = 10

    # --- Worker.
    worker_pool: str = "prefork"
    worker_concurrency: int = 8

    # --- API.
    api_keys: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 5000
    # Host header names the API answers besides the loopback ones (config/trusted_hosts.py);
    # ("*",): any. Empty: the loopback names alone when `host` is a loopback address, else any.
    trusted_hosts: tuple[str, ...] = ()
    web_workers: int = 2
    web_threads: int = 16
    # 8 MiB: 100,000 pairs of the largest operands (~46 bytes a pair) fit with room to spare.
    max_request_bytes: int = 8 * 1024 * 1024
    # HTTPS straight from the web server (Granian): a PEM certificate (chain) and its key;
    # unset: plain HTTP (e.g. behind a proxy that terminates TLS).
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    # Submissions (POST) allowed per API key, or per client address without keys, in the
    # syntax of the `limits` library ("100/second", "10/second;1000/hour"); "" disables.
    rate_limit: str = "100/second"
    # With API_KEYS set: requests with a missing or wrong key allowed per client address (the
    # TCP peer: behind a proxy, the proxy's) in the same syntax; past it every request from
    # that address but /health and the docs gets 429 until the window ends. "" disables.
    auth_failure_limit: str = "20/minute"

    # --- Operations.
    log_format: str = "text"  # "json": one JSON object per log line, for a log pipeline
    # The least severe lines kept. INFO keeps a line per request and per task sent; WARNING
    # keeps problems only (Redis outages, failed tasks), for less CPU per request.
    log_level: str = "INFO"
    # Where the web workers share Prometheus metrics; api/serve.py makes a temp dir
    # when unset. Empty in a single process (`flask run`, tests): metrics stay in memory.
    prometheus_multiproc_dir: str = ""

    # --- Workflows (chains, groups, chords): how much one request may ask for.
    max_pairs: int = 100_000  # pairs in one group or chord
    max_chain_numbers: int = 1_000  # numbers in one chain (each message carries the rest of it)
    max_tasks_per_request: int = 10_000  # tasks one group or chord may publish (see chunk_size)

    @property
    def max_delay_seconds(self) -> float:
        """Longest countdown or retry delay allowed: half the visibility timeout."""
        return self.visibility_timeout_seconds / 2


def _env_str(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip()
    return value or default


def _env_number(env: Mapping[str, str], name: str, default: float, kind: type) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
    if not math.isfinite(value):
        # float() takes "nan" and "inf"; every comparison with NaN is false, so NaN would
        # pass each bound below and fail later, in time.sleep or in a request.
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    return value


def _env_optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _env_disableable(env: Mapping[str, str], name: str, default: str) -> str:
    """Like `_env_str`, but set and empty (or "off") means off, where unset means default."""
    raw = env.get(name)
    if raw is None:
        return default
    raw = raw.strip()
    return "" if raw.lower() == "off" else raw


def _env_list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Comma-separated items; unset or empty means the default.

    A value of nothing but commas is refused rather than read as empty: ``API_KEYS=","``
    would otherwise switch authentication off while looking like it was configured.
    """
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if not items:
        raise ConfigError(f"{name} names nothing, got {raw!r}: leave it empty for the default")
    return items


def _validated(settings: Settings) -> Settings:
    if not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://")
    try:
        urlsplit(settings.redis_url).port  # noqa: B018 - parsing it is the check
    except ValueError as exc:  # the message names the port, never the password
        raise ConfigError(f"REDIS_URL has a bad port: {exc}") from None
    if settings.add_delay_seconds < 0:
        raise ConfigError("ADD_DELAY_SECONDS must not be negative")
    if settings.redis_timeout_seconds <= 0:
        raise ConfigError("REDIS_TIMEOUT_SECONDS must be more than 0")
    if settings.result_expires_seconds < 1:
        # Redis refuses an expiry of 0: every submission would answer 503.
        raise ConfigError("RESULT_EXPIRES_SECONDS must be at least 1")
    if not settings.queues:
        raise ConfigError("TASK_QUEUES must name at least one queue")
    if settings.default_queue not in settings.queues:
        raise ConfigError(f"DEFAULT_QUEUE {settings.default_queue!r} is not in TASK_QUEUES")
    if settings.default_retry_policy not in settings.retry_policies:
        raise ConfigError(f"DEFAULT_RETRY_POLICY {settings.default_retry_policy!r} is unknown")
    if settings.visibility_timeout_seconds < 2:
        raise ConfigError("VISIBILITY_TIMEOUT_SECONDS must be at least 2")
    if settings.add_delay_seconds > settings.max_delay_seconds:
        # An add held past the visibility timeout is delivered again while it runs.
        raise ConfigError(
            "ADD_DELAY_SECONDS must be at most half of VISIBILITY_TIMEOUT_SECONDS, "
            f"{settings.max_delay_seconds:g} s"
        )
    if settings.max_deliveries < 1:
        raise ConfigError("MAX_DELIVERIES must be at least 1")
    if settings.worker_concurrency < 1:
        raise ConfigError("WORKER_CONCURRENCY must be at least 1")
    if not 1 <= settings.port <= 65535:
        raise ConfigError("PORT must be between 1 and 65535")
    if settings.web_workers < 1:
        raise ConfigError("WEB_WORKERS must be at least 1")
    if settings.web_threads < 1:
        raise ConfigError("WEB_THREADS must be at least 1")
    if settings.max_request_bytes < 1:
        raise ConfigError("MAX_REQUEST_BYTES must be at least 1")
    if not 1 <= settings.schedule_runs_kept <= 10_000:
        raise ConfigError("SCHEDULE_RUNS_KEPT must be between 1 and 10000")
    if settings.max_schedules < 1:
        raise ConfigError("MAX_SCHEDULES must be at least 1")
    if settings.beat_lock_timeout_seconds < 3:
        raise ConfigError("BEAT_LOCK_TIMEOUT_SECONDS must be at least 3")
    for name, seconds in (
        ("REDIS_TIMEOUT_SECONDS", settings.redis_timeout_seconds),
        ("RESULT_EXPIRES_SECONDS", settings.result_expires_seconds),
        ("VISIBILITY_TIMEOUT_SECONDS", settings.visibility_timeout_seconds),
        ("BEAT_LOCK_TIMEOUT_SECONDS", settings.beat_lock_timeout_seconds),
    ):
        if seconds > MAX_SECONDS:
            raise ConfigError(f"{name} must be at most {MAX_SECONDS} (100 years)")
    if settings.redis_ssl_cert_reqs not in SSL_CERT_REQS:
        raise ConfigError(f"REDIS_SSL_CERT_REQS must be one of: {', '.join(SSL_CERT_REQS)}")
    if any(not key or any(ch.isspace() for ch in key) for key in settings.api_keys):
        raise ConfigError("API_KEYS must be comma-separated keys without spaces")
    if any(not key.isascii() or not key.isprintable() for key in settings.api_keys):
        # The web server hands the app a header that is not ASCII as an empty one: such a
        # key could never be sent, and would lock its clients out with "send an API key".
        raise ConfigError("API_KEYS must be printable ASCII, which is all a header carries")
    try:
        resolve_trusted_hosts(settings.trusted_hosts, settings.host)
    except ValueError as exc:
        raise ConfigError(f"TRUSTED_HOSTS {exc}") from None
    if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
        raise ConfigError("TLS_CERT_FILE and TLS_KEY_FILE must be set together")
    for name, limit, example in (
        ("RATE_LIMIT", settings.rate_limit, "'100/second' or '10/second;1000/hour'"),
        ("AUTH_FAILURE_LIMIT", settings.auth_failure_limit, "'20/minute' or '5/second;100/hour'"),
    ):
        if limit:
            try:
                parse_many(limit)
            except ValueError:
                raise ConfigError(f"{name} must look like {example}, got {limit!r}") from None
    if settings.worker_pool not in WORKER_POOLS:
        raise ConfigError(
            f"WORKER_POOL must be one of {', '.join(WORKER_POOLS)}, got {settings.worker_pool!r}"
        )
    if settings.log_format not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
    if settings.log_level not in LOG_LEVELS:
        raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}")
    if settings.max_pairs < 1:
        raise ConfigError("MAX_PAIRS must be at least 1")
    if settings.max_chain_numbers < 2:
        raise ConfigError("MAX_CHAIN_NUMBERS must be at least 2")
    if settings.max_tasks_per_request < 1:
        raise ConfigError("MAX_TASKS_PER_REQUEST must be at least 1")
    return settings


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from ``env`` (default: the process environment), then ``overrides``.

    ``env`` holds environment variables (``REDIS_URL``); a field name there (``redis_url``)
    is refused rather than ignored, since ignoring it would quietly leave the default (a
    Redis on 127.0.0.1:6379) in its place. Fields go in ``overrides``."""
    if env is None:
        env = os.environ
    else:
        misplaced = sorted(name for name in env if name in Settings.__dataclass_fields__)
        if misplaced:
            raise TypeError(
                f"load_settings: {', '.join(misplaced)} are Settings fields, not environment "
                "variables; pass them as keyword overrides"
            )
    d = Settings()
    settings = Settings(
        redis_url=_env_str(env, "REDIS_URL", d.redis_url),
        redis_timeout_seconds=_env_number(
            env, "REDIS_TIMEOUT_SECONDS", d.redis_timeout_seconds, float
        ),
        redis_ssl_cert_reqs=_env_str(env, "REDIS_SSL_CERT_REQS", d.redis_ssl_cert_reqs).lower(),
        redis_ssl_ca_certs=_env_optional(env, "REDIS_SSL_CA_CERTS"),
        redis_ssl_certfile=_env_optional(env, "REDIS_SSL_CERTFILE"),
        redis_ssl_keyfile=_env_optional(env, "REDIS_SSL_KEYFILE"),
        add_delay_seconds=_env_number(env, "ADD_DELAY_SECONDS", d.add_delay_seconds, float),
        result_expires_seconds=_env_number(
            env, "RESULT_EXPIRES_SECONDS", d.result_expires_seconds, int
        ),
        visibility_timeout_seconds=_env_number(
            env, "VISIBILITY_TIMEOUT_SECONDS", d.visibility_timeout_seconds, int
        ),
        max_deliveries=_env_number(env, "MAX_DELIVERIES", d.max_deliveries, int),
        queues=_env_list(env, "TASK_QUEUES", d.queues),
        default_queue=_env_str(env, "DEFAULT_QUEUE", d.default_queue),
        default_retry_policy=_env_str(env, "DEFAULT_RETRY_POLICY", d.default_retry_policy),
        schedule_runs_kept=_env_number(env, "SCHEDULE_RUNS_KEPT", d.schedule_runs_kept, int),
        max_schedules=_env_number(env, "MAX_SCHEDULES", d.max_schedules, int),
        beat_lock_timeout_seconds=_env_number(
            env, "BEAT_LOCK_TIMEOUT_SECONDS", d.beat_lock_timeout_seconds, int
        ),
        worker_pool=_env_str(env, "WORKER_POOL", d.worker_pool),
        worker_concurrency=_env_number(env, "WORKER_CONCURRENCY", d.worker_concurrency, int),
        api_keys=_env_list(env, "API_KEYS", d.api_keys),
        host=_env_str(env, "HOST", d.host),
        port=_env_number(env, "PORT", d.port, int),
        trusted_hosts=_env_list(env, "TRUSTED_HOSTS", d.trusted_hosts),
        web_workers=_env_number(env, "WEB_WORKERS", d.web_workers, int),
        web_threads=_env_number(env, "WEB_THREADS", d.web_threads, int),
        max_request_bytes=_env_number(env, "MAX_REQUEST_BYTES", d.max_request_bytes, int),
        tls_cert_file=_env_optional(env, "TLS_CERT_FILE"),
        tls_key_file=_env_optional(env, "TLS_KEY_FILE"),
        rate_limit=_env_disableable(env, "RATE_LIMIT", d.rate_limit),
        auth_failure_limit=_env_disableable(env, "AUTH_FAILURE_LIMIT", d.auth_failure_limit),
        log_format=_env_str(env, "LOG_FORMAT", d.log_format).lower(),
        log_level=_env_str(env, "LOG_LEVEL", d.log_level).upper(),
        prometheus_multiproc_dir=_env_str(
            env, "PROMETHEUS_MULTIPROC_DIR", d.prometheus_multiproc_dir
        ),
        max_pairs=_env_number(env, "MAX_PAIRS", d.max_pairs, int),
        max_chain_numbers=_env_number(env, "MAX_CHAIN_NUMBERS", d.max_chain_numbers, int),
        max_tasks_per_request=_env_number(
            env, "MAX_TASKS_PER_REQUEST", d.max_tasks_per_request, int
        ),
    )
    return _validated(replace(settings, **overrides))


def settings_or_exit() -> Settings:
    """Settings from the environment, for a process that is starting (`flask --app api run`,
    `celery -A workflows ...`): a value that cannot work ends it with one line naming the
    variable (exit 2), as it ends `make run` and `python -m api.serve`, not with a traceback."""
    try:
        return load_settings()
    except ConfigError as exc:
        print(f"sumflow: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
