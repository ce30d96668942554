"""Celery side of sumflow: the app, the tasks, and the functions that submit and read them.

`celery -A workflows worker` finds ``workflows.app``, built on first use from the environment,
so importing this package (as the API does) never creates a second Celery app by accident.
"""

from __future__ import annotations

from typing import Any

from workflows.celery_app import SumflowCelery, create_celery

__all__ = ["SumflowCelery", "app", "create_celery"]

_app: SumflowCelery | None = None


def __getattr__(name: str) -> Any:
    if name == "app":
        global _app
        if _app is None:
            _app = create_celery()
        return _app
    raise AttributeError(f"module 'workflows' has no attribute {name!r}")
