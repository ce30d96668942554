"""Celery's Redis result backend, without a SUBSCRIBE and UNSUBSCRIBE on every task sent, and
with chains that end clearly when a step fails or is revoked.

Celery 5.7's backend subscribes to each new task's result channel at publish time
(``on_task_call``) so that a later ``AsyncResult.get()`` in the same process can be woken.
sumflow never blocks on results that way: clients poll ``/result`` or long-poll with ``?wait``,
which subscribes only when asked. Skipping it saves two Redis commands per submission and keeps
the publishing path free of a shared pub/sub connection (which is not safe to share between the
web server's threads). ``AsyncResult.get()`` still works: it subscribes for itself when it
waits.

A chord member's count towards its chord is retried while Redis is away, like its result.

A task the worker cancels because it lost Redis mid-run is stored as RETRY with a message
that says so (`RunCancelled`), instead of Celery 5.7's unreadable ``Retry(Retry(...), ...)``.

Chains: when a step fails, Celery 5.7 stores the same exception on every later step, which
does not say which step broke; when a step is revoked it leaves the later steps PENDING for
ever. Here both end every later step with `ChainAborted`, naming the step that broke.

A finished task stays finished. Celery 5.7 publishes a retry's message before it stores RETRY,
so with no backoff another pool process can run the retry to its end first, and the late
RETRY then replaced the SUCCESS (or the final FAILURE): the task read RETRY for ever, and its
group never completed. Celery guards only SUCCESS, with a GET ahead of the SET, which this race
passes between. Here one script does the check and the write (`STORE_UNLESS_DONE`).

A retrying task reads RETRY only while no later attempt runs. The same race had the next
attempt STARTED before the late RETRY of the one before, and the task then read RETRY while
that attempt ran: ``DELETE /tasks`` took it for a task not running and stored REVOKED, and
the attempt ran on, so a chain went on to SUCCESS and a chord counted the sum of a step
that read REVOKED. STARTED and RETRY are stored with the attempt's ``retries``, and the
script keeps a later attempt's state.

A task a worker discards because its ``expires`` had passed (a schedule's ``expires_after``)
is stored REVOKED with a message saying it expired unstarted, and when, where Celery 5.7 stores
a bare ``expired``.

A revoked task stays revoked. A chord's callback or a chain's later step revoked while it
waited was stored FAILURE once the workflow failed (Celery 5.7 passes the error on to them), so
the answer a client had read changed under it. A FAILURE can still give way to a later run's
SUCCESS, as in Celery.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from celery import states
from celery.backends.redis import RedisBackend
from celery.exceptions import BackendStoreError, Retry
from kombu.utils.encoding import bytes_to_str

__all__ = [
    "CANCELLED_MESSAGE",
    "STORED_STATE_LUA",
    "STORE_UNLESS_DONE",
    "ChainAborted",
    "ResultBackend",
    "RunCancelled",
    "chain_abort_message",
    "describe_exception",
    "expired_reason",
]


#: The start of every script that writes a task's state: the state stored at KEYS[1]
#: (``meta`` and its ``status``, nil if none or unreadable), which states are ``done``, and
#: ``store``, which writes a state there (kept ``ttl`` seconds, 0: for ever) and announces
#: it to the long-polls subscribed to the key.
STORED_STATE_LUA = """
local meta, status = nil, nil
local current = redis.call('GET', KEYS[1])
if current then
    local ok, decoded = pcall(cjson.decode, current)
    if ok and type(decoded) == 'table' then
        meta, status = decoded, decoded['status']
    end
end
local done = {SUCCESS = true, FAILURE = true, REVOKED = true}
local function store(value, ttl)
    if tonumber(ttl) > 0 then
        redis.call('SET', KEYS[1], value, 'EX', ttl)
    else
        redis.call('SET', KEYS[1], value)
    end
    redis.call('PUBLISH', KEYS[1], value)
end
"""

#: Store a task's state and announce it, unless the stored one says more: SUCCESS stays (as
#: in Celery), REVOKED stays, no finished state gives way to an unfinished one, and no
#: unfinished state of an attempt gives way to one of an earlier attempt (``retries``, stored
#: with STARTED and RETRY). KEYS: the task's key; ARGV: the encoded state, its name, seconds
#: to keep it (0: for ever), and the attempt's ``retries`` (-1: unknown). 1 if stored.
STORE_UNLESS_DONE = (
    STORED_STATE_LUA
    + """
local final = {SUCCESS = true, REVOKED = true}
if final[status] or (done[status] and not done[ARGV[2]]) then
    return 0
end
local attempt = tonumber(ARGV[4])
if status and not done[status] and not done[ARGV[2]] and attempt >= 0
        and type(meta['retries']) == 'number' and meta['retries'] > attempt then
    return 0
end
store(ARGV[1], ARGV[3])
return 1
"""
)


def _attempt(state: str, request: Any) -> int:
    """The attempt an unfinished state belongs to (the request's ``retries``); -1 if none."""
    retries = getattr(request, "retries", None) if state in states.UNREADY_STATES else None
    return retries if isinstance(retries, int) and retries >= 0 else -1


class ChainAborted(Exception):
    """An earlier step of the chain failed or was revoked, so this step never ran."""


class RunCancelled(Exception):
    """The worker lost Redis while running the task and stopped it; it runs again."""


#: The reason Celery gives a task it cancels because the worker lost its broker connection.
_CELERY_CANCEL_REASON = "cancelled by Celery"
CANCELLED_MESSAGE = (
    "the worker lost its connection to Redis while running it; it runs again once the worker "
    "has reconnected (or, if that worker stops instead, after VISIBILITY_TIMEOUT_SECONDS)"
)


#: The reason Celery's worker gives a task it discards because its ``expires`` had passed.
_CELERY_EXPIRED_REASON = "expired"


def expired_reason(expires: Any) -> str:
    """What a task discarded past its ``expires`` (the message's ISO time) stores."""
    when = expires.isoformat() if isinstance(expires, datetime) else expires
    return f"expired: not started by its expiry time{f', {when}' if when else ''}"


def describe_exception(exc: BaseException) -> str:
    """``Type: message``, as GET /result shows a stored error."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def chain_abort_message(failed_id: str, reason: str, revoked: bool = False) -> str:
    """What every later step of a broken chain reports, naming the step that broke."""
    verb = "was revoked" if revoked else "failed"
    return f"not run because chain step {failed_id} {verb}: {reason}"


def _plain_steps(chain: Any) -> list[str] | None:
    """Task ids of the chain steps still to run, or None when any step is not a plain task
    (a group or chord inside a chain: Celery's own propagation handles those)."""
    if not isinstance(chain, Iterable) or isinstance(chain, str | bytes | Mapping):
        return None
    ids: list[str] = []
    for step in chain:
        options = (step.get("options") or {}) if isinstance(step, Mapping) else None
        if options is None or step.get("subtask_type") or "chord" in options:
            return None
        task_id = options.get("task_id")
        if not task_id:
            return None
        ids.append(task_id)
    return ids


def _without_chain(request: Any) -> Any:
    stripped = copy.copy(request)
    stripped.chain = None
    return stripped


class ResultBackend(RedisBackend):
    def _set(self, key: str, value: Any, expires: int | None = None) -> None:
        """Store and announce what Celery saves through ``set`` (a saved group; a task's states
        go through `_store_result`): Celery's own `_set` without MULTI/EXEC.

        A SET and a PUBLISH in one round trip. On one connection Redis runs them in order
        anyway, and nothing needs the pair atomic (a reader that sees the value before the
        message sees what the message carries), so the transaction only cost two commands.
        """
        if expires is None:
            expires = self.expires
        with self.client.pipeline(transaction=False) as pipe:
            pipe.set(key, value, ex=expires or None)
            pipe.publish(key, value)
            pipe.execute()

    def _store_result(
        self,
        task_id: str,
        result: Any,
        state: str,
        traceback: Any = None,
        request: Any = None,
        **kwargs: Any,
    ) -> Any:
        """Celery 5.7's, minus its GET of the stored state: `STORE_UNLESS_DONE` checks it in the
        same step as the write, where no other process can come in between."""
        value = self.encoded_state(task_id, result, state, traceback, request)
        expires = self.failure_expires if state == states.FAILURE else None
        key = bytes_to_str(self.get_key_for_task(task_id))
        retries = _attempt(state, request)
        self.ensure(self._store_unless_done, (key, value, state, expires, retries))
        return result

    def encoded_state(
        self, task_id: str, result: Any, state: str, traceback: Any = None, request: Any = None
    ) -> Any:
        """What `_store_result` writes for this state: Celery's meta, with the attempt's
        ``retries`` for an unfinished state. ``result`` is encoded already (`encode_result`).

        The size check is Celery 5.7's ``RedisBackend.set``, which this write no longer goes
        through."""
        meta = self._get_result_meta(
            result=result, state=state, traceback=traceback, request=request
        )
        meta["task_id"] = bytes_to_str(task_id)
        retries = _attempt(state, request)
        if retries >= 0:
            meta["retries"] = retries
        value = self.encode(meta)
        if isinstance(value, str) and len(value) > self._MAX_STR_VALUE_SIZE:
            raise BackendStoreError(
                "value too large for Redis backend", state=state, task_id=task_id
            )
        return value

    def _store_unless_done(
        self, key: str, value: Any, state: str, expires: int | None, retries: int = -1
    ) -> None:
        if expires is None:
            expires = self.expires
        self.client.eval(STORE_UNLESS_DONE, 1, key, value, state, int(expires or 0), retries)

    def on_chord_part_return(
        self, request: Any, state: str, result: Any, propagate: Any = None, **kwargs: Any
    ) -> None:
        """Celery's, retried while Redis is away, as storing a result already is.

        Celery stores a chord member's result (retried, ``result_backend_always_retry``) and
        then counts it towards the chord (not retried). A Redis restart between the two
        failed the member that had just succeeded, and its chord with it. Celery 5.7 counts
        each member once per task id, so a retry cannot count one twice.
        """
        self._ensure_retryable(
            super().on_chord_part_return, request, state, result, propagate=propagate, **kwargs
        )

    def on_task_call(self, producer: Any, task_id: str) -> None:
        """Do not subscribe at publish time (see module docstring)."""

    def mark_as_failure(
        self,
        task_id: str,
        exc: Any,
        traceback: Any = None,
        request: Any = None,
        store_result: bool = True,
        call_errbacks: bool = True,
        state: str = states.FAILURE,
    ) -> None:
        """Celery's failure handling, with later chain steps ending in `ChainAborted`."""
        steps = _plain_steps(getattr(request, "chain", None)) if request is not None else None
        if not steps:
            super().mark_as_failure(
                task_id, exc, traceback, request, store_result, call_errbacks, state
            )
            return
        super().mark_as_failure(
            task_id, exc, traceback, _without_chain(request), store_result, False, state
        )
        if store_result and state in states.PROPAGATE_STATES:
            message = chain_abort_message(task_id, describe_exception(exc))
            self._abort_steps(steps, ChainAborted(message), state)
        if call_errbacks and request.errbacks:
            self._call_task_errbacks(request, exc, traceback)

    def mark_as_retry(
        self,
        task_id: str,
        exc: Any,
        traceback: Any = None,
        request: Any = None,
        store_result: bool = True,
        state: str = states.RETRY,
    ) -> Any:
        """Celery's, but a task cancelled on a lost connection says so in words: Celery stores
        ``Retry(message=...)``, whose arguments serialize as ``Retry(Retry(...), None, None)``."""
        if isinstance(exc, Retry) and exc.message == _CELERY_CANCEL_REASON:
            exc = RunCancelled(CANCELLED_MESSAGE)
        return super().mark_as_retry(task_id, exc, traceback, request, store_result, state)

    def mark_as_revoked(
        self,
        task_id: str,
        reason: str = "",
        request: Any = None,
        store_result: bool = True,
        state: str = states.REVOKED,
    ) -> None:
        """Revoke the task; later chain steps end REVOKED too instead of PENDING for ever."""
        if reason == _CELERY_EXPIRED_REASON:
            reason = expired_reason(getattr(request, "expires", None))
        super().mark_as_revoked(task_id, reason, request, store_result, state)
        steps = _plain_steps(getattr(request, "chain", None)) if request is not None else None
        if steps and store_result:
            message = chain_abort_message(task_id, reason or "revoked", revoked=True)
            self._abort_steps(steps, ChainAborted(message), states.REVOKED)

    def _abort_steps(self, task_ids: list[str], exc: ChainAborted, state: str) -> None:
        # request.chain lists the remaining steps last first. Store them in chain order, so
        # that once the chain's own id (the last step) reports the failure, every step does.
        for step_id in reversed(task_ids):
            self.store_result(step_id, exc, state)
