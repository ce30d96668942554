"""TLS options for every Redis client sumflow opens, from the REDIS_SSL_* settings.

A ``rediss://`` URL alone is not enough: Celery's result backend refuses one without an
explicit ``ssl_cert_reqs``, and the broker, the backend, RedBeat, the rate limiter and our own
client each take their TLS options in a different place. This module builds the options once;
`config.celery_config` and `workflows.redis_client` hand them to each client.
"""

from __future__ import annotations

import ssl
from typing import Any

from config.settings import Settings

__all__ = ["redis_ssl_options", "uses_tls"]

_CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}


def uses_tls(url: str) -> bool:
    return url.startswith("rediss://")


def redis_ssl_options(settings: Settings) -> dict[str, Any]:
    """redis-py / kombu / Celery keyword arguments for TLS; empty for a plain redis:// URL.

    The keys (``ssl_cert_reqs``, ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``) are the
    ones that Celery's ``broker_use_ssl`` and ``redis_backend_use_ssl``, RedBeat's
    ``redbeat_redis_use_ssl`` and ``redis.Redis`` all accept.
    """
    if not uses_tls(settings.redis_url):
        return {}
    options: dict[str, Any] = {"ssl_cert_reqs": _CERT_REQS[settings.redis_ssl_cert_reqs]}
    for name, value in (
        ("ssl_ca_certs", settings.redis_ssl_ca_certs),
        ("ssl_certfile", settings.redis_ssl_certfile),
        ("ssl_keyfile", settings.redis_ssl_keyfile),
    ):
        if value:
            options[name] = value
    return options
