"""Delivery, TLS and protection settings: what the environment turns into for each client."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
import redis
from redbeat.schedulers import get_redis

from config import load_settings
from config.celery_config import celery_config
from config.redis_server import RedisServer
from config.settings import ConfigError
from workflows import broker, create_celery
from workflows.redis_client import create_redis

TLS_URL = "rediss://:s3cret@redis.example.test:6380/0"


def test_delivery_is_at_least_once_with_a_sweep_faster_than_the_timeout() -> None:
    settings = load_settings({"VISIBILITY_TIMEOUT_SECONDS": "8"})
    conf = celery_config(settings)
    assert conf["task_acks_late"] and conf["task_reject_on_worker_lost"]
    assert conf["worker_prefetch_multiplier"] == 1
    transport = conf["broker_transport_options"]
    assert transport["visibility_timeout"] == 8
    assert transport["unacked_restore_interval"] == 2
    assert transport["unacked_restore_throttle"] == 1
    # celery#4400: an ETA held longer than the visibility timeout would run twice.
    assert settings.max_delay_seconds == 4


def test_plain_redis_urls_get_no_tls_options() -> None:
    conf = celery_config(load_settings({"REDIS_URL": "redis://127.0.0.1:6379/0"}))
    assert not {"broker_use_ssl", "redis_backend_use_ssl", "redbeat_redis_use_ssl"} & set(conf)


def test_rediss_urls_verify_the_server_by_default_everywhere() -> None:
    conf = celery_config(load_settings({"REDIS_URL": TLS_URL}))
    expected = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    assert conf["broker_use_ssl"] == expected
    assert conf["redis_backend_use_ssl"] == expected
    assert conf["redbeat_redis_use_ssl"] == expected


def test_tls_options_come_from_the_environment() -> None:
    settings = load_settings(
        {
            "REDIS_URL": TLS_URL,
            "REDIS_SSL_CERT_REQS": "none",
            "REDIS_SSL_CA_CERTS": "/etc/sumflow/ca.pem",
            "REDIS_SSL_CERTFILE": "/etc/sumflow/client.pem",
            "REDIS_SSL_KEYFILE": "/etc/sumflow/client.key",
        }
    )
    assert celery_config(settings)["broker_use_ssl"] == {
        "ssl_cert_reqs": ssl.CERT_NONE,
        "ssl_ca_certs": "/etc/sumflow/ca.pem",
        "ssl_certfile": "/etc/sumflow/client.pem",
        "ssl_keyfile": "/etc/sumflow/client.key",
    }


def test_every_client_of_a_rediss_url_speaks_tls() -> None:
    settings = load_settings({"REDIS_URL": TLS_URL, "REDIS_SSL_CA_CERTS": "/etc/ca.pem"})
    celery = create_celery(settings)
    # Our own client (API reads, registry, rate limiter, idempotency keys).
    ours = create_redis(settings).connection_pool
    assert issubclass(ours.connection_class, redis.SSLConnection)
    assert ours.connection_kwargs["ssl_ca_certs"] == "/etc/ca.pem"
    # Celery's result backend: it refuses a rediss:// URL without ssl_cert_reqs.
    backend = celery.backend
    assert issubclass(backend.connparams["connection_class"], redis.SSLConnection)
    assert backend.connparams["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    # The broker connection (kombu).
    with celery.connection_for_write() as connection:
        assert connection.ssl == {"ssl_cert_reqs": ssl.CERT_REQUIRED, "ssl_ca_certs": "/etc/ca.pem"}
    # RedBeat's client.
    beat = get_redis(celery).connection_pool
    assert issubclass(beat.connection_class, redis.SSLConnection)
    assert beat.connection_kwargs["ssl_ca_certs"] == "/etc/ca.pem"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_SSL_CERT_REQS": "maybe"}, "REDIS_SSL_CERT_REQS must be one of"),
        ({"RATE_LIMIT": "lots"}, "RATE_LIMIT must look like"),
        ({"AUTH_FAILURE_LIMIT": "20"}, "AUTH_FAILURE_LIMIT must look like '20/minute'"),
        ({"TLS_CERT_FILE": "/etc/cert.pem"}, "TLS_CERT_FILE and TLS_KEY_FILE must be set together"),
        ({"API_KEYS": "good,bad key"}, "API_KEYS must be comma-separated keys without spaces"),
        ({"API_KEYS": "good,cl\u00e9"}, "API_KEYS must be printable ASCII"),
        ({"API_KEYS": "good,k\x7f"}, "API_KEYS must be printable ASCII"),
    ],
)
def test_bad_protection_settings_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, "100/second"), ("", ""), ("off", ""), (" 5/minute ", "5/minute")],
)
def test_rate_limit_is_on_by_default_and_can_be_turned_off(raw: str | None, expected: str) -> None:
    env = {} if raw is None else {"RATE_LIMIT": raw}
    assert load_settings(env).rate_limit == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, "20/minute"), ("", ""), ("off", ""), (" 5/second;100/hour ", "5/second;100/hour")],
)
def test_auth_failure_limit_is_on_by_default_and_can_be_turned_off(
    raw: str | None, expected: str
) -> None:
    env = {} if raw is None else {"AUTH_FAILURE_LIMIT": raw}
    assert load_settings(env).auth_failure_limit == expected


def test_the_local_redis_keeps_its_data_and_never_evicts(tmp_path: Path) -> None:
    command = RedisServer(data_dir=tmp_path).command()
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_the_broker_uses_the_transport_that_survives_redis_restarts() -> None:
    celery = create_celery(load_settings({"REDIS_URL": "redis://127.0.0.1:6379/0"}))
    with celery.connection_for_write() as connection:
        assert connection.transport.Channel is broker.Channel


def test_a_publish_retries_once_and_gives_up_on_a_reconnection_that_timed_out() -> None:
    policy = create_celery(load_settings({})).conf.task_publish_retry_policy
    assert policy["max_retries"] == 1
    give_up = policy["errback"]
    assert give_up is broker.give_up_on_a_frozen_redis
    # The publish's own failure (interval 0): its pooled connection may be the bad part.
    give_up(redis.TimeoutError("Timeout reading"), 0)
    give_up(redis.ConnectionError("Connection reset by peer"), 0)
    # A refused reconnection: Redis may be restarting, so kombu tries again.
    give_up(redis.ConnectionError("Error 111 connecting. Connection refused."), 0.1)
    # A reconnection that timed out: another would wait just as long.
    frozen = redis.TimeoutError("Timeout reading from 127.0.0.1:6390")
    with pytest.raises(redis.TimeoutError) as raised:
        give_up(frozen, 0.1)
    assert raised.value is frozen
