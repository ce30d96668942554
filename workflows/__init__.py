"""Celery side of sumflow: the app, the tasks, and the functions that submit and read them.

`celery -A workflows worker` finds ``workflows.app``, built on first use from the environment,
so importing this package (as the API does) never creates a second Celery app by accident.
"""

from __future__ import annotations

from typing import Any

from config.settings import settings_or_exit
from workflows.celery_app import SumflowCelery, create_celery

__all__ = ["SumflowCelery", "app", "create_celery"]

_app: SumflowCelery | None = None


def __getattr__(name: str) -> Any:
    if name == "app":
        global _app
        if _app is None:
            _app = _app_from_environment()
        return _app
    raise AttributeError(f"module 'workflows' has no attribute {name!r}")


def _app_from_environment() -> SumflowCelery:
    """A setting that cannot work ends `celery -A workflows ...` with one line naming the
    variable (exit 2), not with Celery's traceback."""
    return create_celery(settings_or_exit())
