"""API keys: with API_KEYS set, every endpoint but /health and the docs needs a Bearer key.

The check runs before every request (`before_request`), so a blueprint added later is covered
without doing anything. Keys are compared in constant time, as SHA-256 digests so that not
even their length leaks; several keys may be configured at once, to rotate them without
downtime. Each request is also given a client identity (`client_identity`): a short hash of
the key it presented, or its address when the service runs without keys. Rate limits and
idempotency keys are scoped by it, and no key ever reaches Redis or a log in clear.

Failed keys are budgeted per client address (api/auth_failures.py): past AUTH_FAILURE_LIMIT,
an address gets 429 whatever it sends, so keys cannot be guessed as fast as the API answers.
A key shorter than `MIN_KEY_LENGTH` is named in a warning at start, by its place in API_KEYS,
never by itself: it works (a refusal would stop deployments that worked until now), but a
budget of failures does not make a 4-character key safe.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any, NoReturn

from flask import Flask, g, request

from api.auth_failures import FailureBudget
from api.errors import abort

__all__ = [
    "MIN_KEY_LENGTH",
    "PUBLIC_ENDPOINTS",
    "SECURITY_SCHEME",
    "client_identity",
    "init_auth",
    "security_spec",
]

#: Endpoints anyone may call: the health probe and the API documentation.
PUBLIC_ENDPOINTS = frozenset(
    {
        "health.Health",
        "api-docs.openapi_json",
        "api-docs.openapi_swagger_ui",
        "swagger-ui-assets.static",
    }
)

#: Keys shorter than this are warned about at start: 16 characters drawn at random from the
#: 64 of base64url are 96 bits, beyond any guessing; a word or a short code is not.
MIN_KEY_LENGTH = 16

logger = logging.getLogger(__name__)

#: The OpenAPI name of the security scheme.
SECURITY_SCHEME = "bearerAuth"

_REALM = 'Bearer realm="sumflow"'
_IDENTITY = "sumflow_client"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def _key_id(digest: bytes) -> str:
    """A short, non-reversible name for a key: safe in Redis keys and logs."""
    return "key:" + digest.hex()[:16]


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _match(presented: bytes, digests: tuple[bytes, ...]) -> bool:
    """Compare against every configured key, without stopping at the first match."""
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(presented, digest)
    return matched


def _unauthorized(message: str, error: str | None = None) -> NoReturn:
    challenge = f'{_REALM}, error="{error}"' if error else _REALM
    abort(401, message=message, headers={"WWW-Authenticate": challenge})


def client_identity() -> str:
    """Who is calling: ``key:<hash>`` for an API key, else ``ip:<address>``."""
    identity = g.get(_IDENTITY)
    if identity is None:
        identity = g.setdefault(_IDENTITY, f"ip:{request.remote_addr or 'unknown'}")
    return identity


def _warn_of_short_keys(api_keys: tuple[str, ...]) -> None:
    for place, key in enumerate(api_keys, start=1):
        if len(key) < MIN_KEY_LENGTH:
            logger.warning(
                "API_KEYS: key %d of %d is %d characters long, short enough to be guessed: use "
                "keys of at least %d random characters, such as those of `python -c 'import "
                "secrets; print(secrets.token_urlsafe(32))'`.",
                place,
                len(api_keys),
                len(key),
                MIN_KEY_LENGTH,
            )


def init_auth(app: Flask, api_keys: tuple[str, ...], failures: FailureBudget | None = None) -> None:
    """Require one of ``api_keys`` on every request but `PUBLIC_ENDPOINTS` (none: no auth);
    with ``failures``, count each refusal against its address's budget."""
    if not api_keys:
        return
    _warn_of_short_keys(api_keys)
    digests = tuple(_digest(key) for key in api_keys)

    @app.before_request
    def _require_api_key() -> None:
        if request.endpoint in PUBLIC_ENDPOINTS:
            return
        address = request.remote_addr or "unknown"
        if failures is not None:
            failures.check(address)  # before the key: a refused address learns nothing of it
        token = _bearer_token()
        presented = _digest(token) if token is not None else None
        if presented is not None and _match(presented, digests):
            g.setdefault(_IDENTITY, _key_id(presented))
            return
        if failures is not None:
            failures.fail(address)
        if presented is None:
            _unauthorized("Authorization: send an API key as 'Authorization: Bearer <key>'.")
        _unauthorized("Authorization: the API key is not valid.", "invalid_token")


def security_spec(api_keys: tuple[str, ...]) -> dict[str, Any]:
    """OpenAPI: the Bearer scheme always; required globally only when keys are configured, so
    that the document describes the running service."""
    spec: dict[str, Any] = {
        "components": {
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "One of the keys in API_KEYS (only when API_KEYS is set).",
                }
            }
        }
    }
    if api_keys:
        spec["security"] = [{SECURITY_SCHEME: []}]
    return spec
