"""The worker's view of one delivered task, mended in two places.

A run the worker stops because it lost Redis is announced (RETRY, `RunCancelled`) once the
worker has reconnected, not while Redis is away (`TaskRequest._announce_cancelled`).

A chord member whose pool process died just after it stored SUCCESS still counts towards
its chord, and its chord's callback is sent even if that process died sending it
(`workflows.chord_claims`).

A task's end is two steps in the pool process: store the result, then count the member
towards its chord (``Backend.mark_as_done``). When the process is killed between the two (the
OOM killer, a supervisor's SIGKILL), Celery 5.7's worker finds SUCCESS stored, acknowledges
the message and does not run the task again, so nothing ever counts the member: the chord's
callback stayed PENDING for ever.

Here the worker's main process counts it, with the result the member stored. Celery counts a
member once per task id, so this does no harm when the process died just after counting it.

A task requeued because its pool process died is logged in one line that names it. Celery's
own line ("Task handler raised error: WorkerLostError(... Job: 25.)") named no task, and
carried billiard's traceback of its own bookkeeping, eleven lines that say nothing more.
"""

from __future__ import annotations

from typing import Any

from billiard.einfo import ExceptionInfo, ExceptionWithTraceback
from celery import signals, states
from celery.exceptions import BackendError, WorkerLostError
from celery.utils.log import get_logger
from celery.worker.request import Request, task_ready

from workflows.backend import CANCELLED_MESSAGE, RunCancelled
from workflows.chord_claims import recount_when_claim_lapses
from workflows.redis_client import REDIS_ERRORS
from workflows.requeue import note_cancelled

__all__ = ["TaskRequest"]

logger = get_logger(__name__)


class TaskRequest(Request):
    def _announce_cancelled(self, emit_retry: bool = True) -> None:
        """Celery 5.7's private hook, with the RETRY it stores left until the worker has
        reconnected.

        Celery 5.7 stops the runs of a worker that lost Redis one by one, storing RETRY for each
        before it stops the next. That store waits for Redis (``result_backend_always_retry``),
        so an outage held the worker's main process at the first run: the others ran on to
        their end, were requeued once Redis was back and ran a second time. An outage that
        outlasted the store's retries (7.6 min with Redis stopped) left that first run REVOKED
        ("terminated") for good, although nobody had revoked it, and the others FAILURE
        (``BackendStoreError``) until they ran again. Now every run is stopped at once, and
        `workflows.requeue` stores the RETRY as the worker reconnects, before it requeues the
        message, so the run's next STARTED always comes after it.
        """
        task_ready(self)
        self.send_event("task-cancelled")
        self._already_cancelled = True
        if emit_retry:
            note_cancelled(self.id, self._announce_retry)

    def _announce_retry(self) -> None:
        """Store and signal the RETRY of a run stopped on a lost connection."""
        exc = RunCancelled(CANCELLED_MESSAGE)
        self.task.backend.mark_as_retry(self.id, exc, request=self._context)
        self.task.on_retry(exc, self.id, self.args, self.kwargs, None)
        signals.task_retry.send(self.task, request=self._context, einfo=None)

    def reject(self, requeue: bool = False) -> None:
        self._requeued = requeue
        super().reject(requeue)

    def on_failure(
        self, exc_info: ExceptionInfo, send_failed_event: bool = True, return_ok: bool = False
    ) -> None:
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):  # how the pool hands it over
            exc = exc.exc
        lost = isinstance(exc, WorkerLostError)
        # return_ok only leaves out Celery's "Task handler raised error" line: for a lost
        # pool process Celery stores, signals and requeues as it would without it.
        super().on_failure(exc_info, send_failed_event, return_ok or lost)
        if lost and getattr(self, "_requeued", False):
            # Otherwise it had stored SUCCESS, and Celery's own warning names it.
            logger.warning(
                "task %s[%s] requeued: its pool process died (%s)",
                self.name,
                self.id,
                exc,
                extra={"task_id": self.id, "task_name": self.name, "queue": self._queue()},
            )
        if lost and self.chord:
            try:
                self._count_stored_success()
            except (*REDIS_ERRORS, BackendError) as error:  # Redis gone again: say what is lost
                logger.error(
                    "Task %s[%s] could not be counted towards its chord, whose callback will "
                    "not run: %s",
                    self.name,
                    self.id,
                    error,
                )

    def _queue(self) -> str | None:
        """The queue the message came from (queue and routing key share names here)."""
        info = self.delivery_info or {}
        return info.get("routing_key") or info.get("queue")

    def _count_stored_success(self) -> None:
        """Count this member towards its chord if it stored SUCCESS (else it was requeued,
        and counts when it runs again)."""
        backend = self.task.backend
        meta: dict[str, Any] = backend.get_task_meta(self.id)
        if meta["status"] != states.SUCCESS:
            return
        logger.warning(
            "Task %s[%s] counted towards its chord after its pool process died",
            self.name,
            self.id,
        )
        backend.on_chord_part_return(self._context, states.SUCCESS, meta["result"])
        # It may have died after claiming the callback's dispatch (workflows.chord_claims).
        recount_when_claim_lapses(backend, self._context, meta["result"])
