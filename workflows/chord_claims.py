"""A chord callback whose dispatch was claimed by a process that died is sent all the same.

Celery 5.7's Redis backend sends a chord's callback in three steps: the member that completes
the chord claims the dispatch (a key, ``<group>.c``, kept a few seconds), publishes the
callback, then marks the chord done. The claim keeps two members that finish together from
both sending it. A pool process killed between the claim and the publish (the OOM killer, a
supervisor's SIGKILL) had stored its SUCCESS, so Celery acknowledged it and did not run it
again; its worker counts it towards the chord (`workflows.task_request`), but finds the claim
held and sends nothing. The claim lapsed with no one left to publish, and the callback stayed
PENDING for ever.

So after counting such a member, the worker looks at the claim: held by another, it counts the
member again when the claim lapses. Celery counts a member once per task id, so that count
only claims and sends: if the holder was alive and sent the callback, the chord is done and
it does nothing; if it died, this sends the callback. A holder that died after sending it,
before marking the chord done, leaves a callback that has run, or started, by then: it is
not sent again. One still waiting in a long queue is sent a second time, and runs twice
with the same total (at-least-once, as for any task).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import maybe_signature, states
from celery.exceptions import BackendError
from celery.utils.log import get_logger
from kombu.asynchronous import get_event_loop

from workflows.redis_client import REDIS_ERRORS

__all__ = ["DONE", "callback_stored", "claim_left", "recount_when_claim_lapses"]

logger = get_logger(__name__)

#: What Celery 5.7 leaves in the claim key once the callback has been sent.
DONE = b"done"

#: Looked at again this long after the claim's expiry, so that it has surely lapsed.
MARGIN_SECONDS = 0.1


def claim_left(backend: Any, group_id: str) -> float | None:
    """Seconds left on another process's claim of the chord's dispatch; None when there is
    none: the callback was sent, or the chord is not complete (its last member sends it)."""
    key = backend.get_key_for_group(group_id, ".c")
    with backend.client.pipeline(transaction=False) as pipe:
        claim, ttl_ms = pipe.get(key).pttl(key).execute()
    if claim is None or claim == DONE:
        return None
    return max(int(ttl_ms), 0) / 1000


def callback_stored(backend: Any, request: Any) -> bool:
    """Whether the chord's callback has a state stored: it was sent, and has started."""
    callback_id = maybe_signature(request.chord, app=backend.app).id
    return bool(backend.client.exists(backend.get_key_for_task(callback_id)))


def recount_when_claim_lapses(
    backend: Any,
    request: Any,
    result: Any,
    call_later: Callable[[float, Callable[[], None]], object] | None = None,
) -> None:
    """If another process holds the dispatch of ``request``'s chord, count the member (which
    stored SUCCESS with ``result``) again once that claim lapses, and so on until the chord
    is done. ``call_later`` defaults to the worker's event loop: nothing waits meanwhile."""
    left = claim_left(backend, request.group)
    if left is None:
        return
    if call_later is None:
        hub = get_event_loop()
        if hub is None:  # not a worker's main process: nothing can wait here
            logger.error("Chord %s: no event loop to wait for its claim on", request.group)
            return
        call_later = hub.call_later
    logger.info(
        "Chord %s: its callback's dispatch is claimed elsewhere; counting task %s again "
        "in %.1f s, in case the claimant died before sending it",
        request.group,
        request.id,
        left,
    )

    def recount() -> None:
        try:
            if callback_stored(backend, request):
                return  # the claimant sent it before it died
            backend.on_chord_part_return(request, states.SUCCESS, result)
            recount_when_claim_lapses(backend, request, result, call_later)
        except (*REDIS_ERRORS, BackendError) as error:  # in the event loop: never raise
            logger.error(
                "Chord %s: its callback could not be sent after its claimant died: %s",
                request.group,
                error,
            )

    call_later(left + MARGIN_SECONDS, recount)
