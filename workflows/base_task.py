"""The base class of every sumflow task: revokes kept in Redis, MAX_DELIVERIES, retry policies."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from celery import Task, states
from celery.exceptions import Ignore
from celery.utils.log import get_task_logger

from config import Settings
from workflows.deliveries import DeliveriesExhausted, count_delivery
from workflows.outcomes import record_outcome
from workflows.redis_client import REDIS_ERRORS
from workflows.registry import REVOKED_KEY
from workflows.retry import RetriesExhausted, TransientError, resolve_policy, retry_delay

__all__ = ["REVOKE_REASON", "START_CHECKS", "StartCheck", "SumflowTask"]

#: What a revoke stores, in Celery's own words: a worker that holds the message marks it
#: revoked again when it comes to run it, and the answer must not change under the client.
REVOKE_REASON = "revoked"

logger = get_task_logger(__name__)

#: A check a task passes before each attempt, its retries too: the reason it must not run (it
#: ends REVOKED with it), or None. Layers above this one register theirs in `START_CHECKS` when
#: Celery imports them (``imports``): `schedules.stale_runs` drops a run whose schedule was
#: deleted.
StartCheck = Callable[["SumflowTask"], str | None]
START_CHECKS: list[StartCheck] = []


class SumflowTask(Task):
    """Unlike the ``FlaskTask`` of Flask's Celery pattern, this base runs no Flask app context:
    a task needs none, and nothing below ``api`` may know Flask (README, Architecture). The
    configuration a task needs is ``self.app.settings``, the Settings its Celery app was built
    from (`workflows.celery_app`)."""

    #: Counts a chord member whose pool process died after storing SUCCESS
    #: (see `workflows.task_request`).
    Request = "workflows.task_request:TaskRequest"

    def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
        """Skip a task revoked in Redis, or one a start check refuses; fail one delivered too
        often (workflows.deliveries)."""
        self._skip_if_revoked(task_id)
        for check in START_CHECKS:
            reason = check(self)
            if reason:
                self._skip(task_id, reason)
        if (self.request.delivery_info or {}).get("redelivered"):
            self._check_deliveries(task_id)

    def _skip_if_revoked(self, task_id: str) -> None:
        """Skip a task revoked in Redis (workflows.revocation).

        Celery's own revokes live in the memory of the workers that heard the broadcast; a
        worker started later, or one that took the message a moment before the revoke
        arrived, would run it anyway. One ZSCORE per task closes both gaps.
        """
        try:
            expires_at = self.backend.client.zscore(REVOKED_KEY, task_id)
        except REDIS_ERRORS as exc:  # better to run a revoked add than to fail a live one
            logger.warning("could not check revokes for %s: %s", task_id, exc)
            return
        if expires_at is not None and expires_at > time.time():
            self._skip(task_id, REVOKE_REASON)

    def _skip(self, task_id: str, reason: str) -> None:
        """End the task REVOKED with ``reason``, without running this attempt."""
        self.backend.mark_as_revoked(task_id, reason, request=self.request)
        # Celery sends no task_revoked for a task we skip here: count it ourselves.
        record_outcome(self, self.request, states.REVOKED)
        raise Ignore()

    def _check_deliveries(self, task_id: str) -> None:
        """Fail a redelivered task past MAX_DELIVERIES, so a message that kills its worker
        ends FAILURE instead of being requeued forever. Failing, not dropping, it stores the
        error for the client and lets a chain or chord see the member fail."""
        settings: Settings = self.app.settings
        try:
            deliveries = count_delivery(
                self.backend.client, task_id, settings.result_expires_seconds
            )
        except REDIS_ERRORS as exc:  # better to run it once more than to fail it unseen
            logger.warning("could not count deliveries of %s: %s", task_id, exc)
            return
        if deliveries > settings.max_deliveries:
            raise DeliveriesExhausted(
                f"gave up after {settings.max_deliveries} deliveries, each ended by its "
                f"worker being lost (MAX_DELIVERIES)"
            )

    def simulate_work(self, adds: int, fail_times: int) -> None:
        """The study guide's simulated work: ADD_DELAY_SECONDS per add, then a `TransientError`
        on each of the first ``fail_times`` attempts, so that retries can be seen."""
        delay = self.app.settings.add_delay_seconds
        if delay:
            time.sleep(delay * adds)
        attempt = self.request.retries + 1
        if attempt <= fail_times:
            raise TransientError(f"simulated transient failure {attempt} of {fail_times}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task; on `TransientError` retry as the message's ``retry_policy`` says."""
        try:
            return super().__call__(*args, **kwargs)
        except TransientError as exc:
            settings: Settings = self.app.settings
            policy = resolve_policy(settings, kwargs.get("retry_policy"))
            retries = self.request.retries
            if retries >= policy.max_retries:
                attempts = retries + 1
                raise RetriesExhausted(
                    f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}: {exc}"
                ) from None
            raise self.retry(
                exc=exc,
                countdown=min(retry_delay(policy, retries), settings.max_delay_seconds),
                max_retries=policy.max_retries,
            ) from None
