"""Health for load balancers and people: Redis, the workers and their queues, the beat.

The status code answers one question, the one a load balancer asks: can this API process do
its job? It can while Redis answers and takes writes (200), and cannot when Redis does not
answer, or answers but refuses writes (503): out of memory, a replica after a failover. Missing
workers or a missing beat do not make this API process useless (it still accepts work, which
waits in Redis until a worker comes), so they keep the 200 and set ``degraded`` with the
reasons in ``problems``: taking every API process out of rotation would not bring a worker
back, it would only refuse work that could have waited.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from api.blueprint import Blueprint
from api.errors import abort
from api.services import services
from schedules.beat_status import BeatStatus, beat_status
from workflows.redis_client import OUTAGE_ERRORS, REDIS_ERRORS, REFUSALS
from workflows.shared_settings import disagreements

logger = logging.getLogger(__name__)

blp = Blueprint("health", __name__, description="Service health.")

OK, DOWN, PARTIAL, DIFFER = "ok", "down", "partial", "differ"

#: Written by every check: a PING passes on a Redis that refuses every write.
PROBE_KEY = "sumflow:health-probe"
PROBE_TTL_MS = 10_000


class BeatSchema(Schema):
    status = fields.String(required=True, metadata={"enum": [OK, DOWN]})
    lock_ttl_seconds = fields.Float(
        allow_none=True,
        metadata={"description": "Seconds before the beat's lock expires unless renewed."},
    )


class ChecksSchema(Schema):
    redis = fields.String(required=True, metadata={"enum": [OK]})
    workers = fields.String(
        required=True,
        metadata={
            "enum": [OK, PARTIAL, DOWN],
            "description": "ok: every queue has a worker; partial: some queue has none; "
            "down: no worker answered.",
        },
    )
    beat = fields.String(required=True, metadata={"enum": [OK, DOWN]})
    settings = fields.String(
        required=True,
        metadata={
            "enum": [OK, DIFFER],
            "description": "differ: a worker holds a setting every process must share "
            "(VISIBILITY_TIMEOUT_SECONDS, TASK_QUEUES...) otherwise than this API process.",
        },
    )


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok"]})
    redis = fields.String(required=True)
    workers = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Each worker seen, with the queues it consumes."},
    )
    workers_as_of = fields.DateTime(
        required=True,
        metadata={
            "description": "When the workers gave that answer. It is refreshed in the "
            "background once 3 s old, so it is at most about 4 s old; older while a worker it "
            "lists does not answer (for up to 4 s: it may be reconnecting), and after a Redis "
            "outage, until the workers answer again."
        },
    )
    beat = fields.Nested(BeatSchema, required=True)
    checks = fields.Nested(ChecksSchema, required=True)
    degraded = fields.Boolean(
        required=True,
        metadata={
            "description": "True when a queue has no worker, no beat runs, or a worker "
            "holds a shared setting otherwise than this API process: problems says which."
        },
    )
    problems = fields.List(fields.String(), required=True)


def assess(
    queues: Sequence[str],
    workers: Mapping[str, Sequence[str]],
    beat: BeatStatus,
    differing: Sequence[str] = (),
) -> dict[str, Any]:
    """The checks, ``degraded`` and the problems, from what was seen (a pure function).
    ``differing`` holds a problem per setting a worker holds otherwise than this process."""
    problems: list[str] = []
    served = {queue for consumed in workers.values() for queue in consumed}
    unserved = [queue for queue in queues if queue not in served]
    if not workers:
        worker_check = DOWN
        problems.append("No worker answered: submitted work waits in its queue.")
    elif unserved:
        worker_check = PARTIAL
        problems += [f"No worker consumes queue {queue!r}." for queue in unserved]
    else:
        worker_check = OK
    if beat.alive:
        beat_check = OK
    else:
        beat_check = DOWN
        problems.append("No beat holds RedBeat's lock: schedules do not run.")
    problems += differing
    return {
        "beat": {"status": beat_check, "lock_ttl_seconds": beat.lock_ttl_seconds},
        "checks": {
            "redis": OK,
            "workers": worker_check,
            "beat": beat_check,
            "settings": DIFFER if differing else OK,
        },
        "degraded": bool(problems),
        "problems": problems,
    }


@blp.route("/health")
class Health(MethodView):
    @blp.doc(security=[])  # open to load balancers even when API_KEYS is set
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, description="Redis does not answer, or refuses writes.")
    def get(self) -> Any:
        """200 when Redis answers and takes writes (``degraded`` says if workers or the beat
        are missing); 503 when Redis does not answer (within twice REDIS_TIMEOUT_SECONDS) or
        refuses writes.

        A 503 for a Redis that does not answer does not give the reason: this endpoint is open
        to anyone, and the error names Redis's address. The API's log has it. A refusal is
        Redis's own message, which names nothing but the cause."""
        svc = services()
        try:
            svc.redis.set(PROBE_KEY, b"1", px=PROBE_TTL_MS)
            beat = beat_status(svc.redis)
            # Waits only when this process has no fresh answer (its first request, unless
            # api.serve warmed it), and raises only when it has none to give because Redis
            # did not answer the inspect: never "no worker answered" for an outage.
            workers = svc.workers.view()
        except REFUSALS as exc:
            logger.warning("Redis refuses writes: %s", exc)
            abort(503, message=f"Redis refuses writes: {exc}", headers={"Retry-After": "2"})
        except OUTAGE_ERRORS as exc:
            logger.warning("Redis does not answer: %s", exc)
            abort(503, message="Redis does not answer.", headers={"Retry-After": "2"})
        try:
            differing = disagreements(svc.redis, svc.settings, workers.queues_by_worker)
        except REDIS_ERRORS as exc:  # it answered a moment ago: leave this check out
            logger.warning("could not compare the workers' settings: %s", exc)
            differing = []
        return {
            "status": "ok",
            "redis": "ok",
            "workers": workers.queues_by_worker,
            "workers_as_of": datetime.fromtimestamp(workers.as_of, UTC),
            **assess(svc.settings.queues, workers.queues_by_worker, beat, differing),
        }
