"""The sumflow HTTP API: `flask --app api run` and Granian
(`python -m api.serve`, whose factory `api.serve.served_app` calls `create_app`) find it here.

`create_app` and `close_app` are imported on first use: `api.cli`, the command-line client,
lives in this package too and must start without loading Flask, Celery and every blueprint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.app import close_app, create_app

__all__ = ["close_app", "create_app"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from api import app

        return getattr(app, name)
    raise AttributeError(f"module 'api' has no attribute {name!r}")
