"""The sumflow HTTP API: `flask --app api run` and Granian
(`python -m api.serve`, factory `api:create_app`) find it here.

`create_app` is imported on first use: `api.cli`, the command-line client, lives in this
package too and must start without loading Flask, Celery and every blueprint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from api.app import create_app

        return create_app
    raise AttributeError(f"module 'api' has no attribute {name!r}")
