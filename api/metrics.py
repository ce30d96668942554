"""``GET /metrics``: Prometheus text for the API's requests and the whole system's state.

Two sources are merged at each scrape. The API's own request metrics come from this process,
or, under the web server's worker processes, from every worker's files (prometheus_client
multiprocess mode). The system's state is read from Redis, where every process can see it:
task outcomes counted by the workers (workflows.outcomes), messages waiting per queue, the
beat's lock and the number of schedules. When Redis does not answer, the scrape still succeeds with
``sumflow_redis_up 0`` and the request metrics, which matter most during an outage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from celery import states
from flask import Response, request
from flask.views import MethodView
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector

from api.blueprint import Blueprint
from api.instrumentation import http_metrics
from api.services import Services, services
from schedules.beat_status import beat_status
from workflows.inspection import queue_depths
from workflows.outcomes import outcome_counts
from workflows.redis_client import OUTAGE_ERRORS
from workflows.tasks import ADD_TASK

blp = Blueprint("metrics", __name__, description="Prometheus metrics.")

#: Outcomes shown from the start (as 0), so that rate() works from the first event.
OUTCOME_STATES = (states.SUCCESS, states.FAILURE, states.RETRY, states.REVOKED)


class SystemCollector:
    """Metrics read from Redis at scrape time: the same answer from every API process."""

    def __init__(self, svc: Services) -> None:
        self._svc = svc

    def collect(self) -> Iterator[Metric]:
        svc = self._svc
        queues = svc.settings.queues
        redis_up = GaugeMetricFamily("sumflow_redis_up", "1 if Redis answered this scrape.")
        try:
            depths = queue_depths(svc.redis, queues)
            outcomes = outcome_counts(svc.redis)
            beat = beat_status(svc.redis)
            workers = svc.workers.queues_by_worker()  # raises only if Redis did not answer it
        except OUTAGE_ERRORS:
            redis_up.add_metric([], 0)
            yield redis_up
            return
        redis_up.add_metric([], 1)
        yield redis_up

        counts = {(state, queue, ADD_TASK): 0 for state in OUTCOME_STATES for queue in queues}
        counts.update(outcomes)
        outcome_family = CounterMetricFamily(
            "sumflow_task_outcomes",
            "Task outcomes counted by the workers, by state, queue and task.",
            labels=["state", "queue", "task"],
        )
        for (state, queue, task), count in sorted(counts.items()):
            outcome_family.add_metric([state, queue, task], count)
        yield outcome_family

        waiting = GaugeMetricFamily(
            "sumflow_queue_messages", "Messages waiting in each queue.", labels=["queue"]
        )
        consumers = GaugeMetricFamily(
            "sumflow_queue_workers", "Workers consuming each queue.", labels=["queue"]
        )
        for queue in queues:
            waiting.add_metric([queue], depths[queue])
            consumers.add_metric([queue], sum(queue in qs for qs in workers.values()))
        yield waiting
        yield consumers
        yield GaugeMetricFamily(
            "sumflow_workers",
            "Workers that answered Celery's inspect (cached for a few seconds).",
            value=len(workers),
        )
        yield GaugeMetricFamily(
            "sumflow_beat_up", "1 if a beat holds RedBeat's lock.", value=int(beat.alive)
        )
        yield GaugeMetricFamily(
            "sumflow_schedules", "Schedule entries stored in RedBeat.", value=beat.schedules
        )


def metrics_registry(svc: Services) -> CollectorRegistry:
    """A registry for one scrape: the request metrics (all web workers') plus the
    system's state from Redis."""
    registry = CollectorRegistry(auto_describe=False)
    if svc.settings.prometheus_multiproc_dir:
        MultiProcessCollector(registry, path=svc.settings.prometheus_multiproc_dir)
    else:
        registry.register(http_metrics().registry)
    registry.register(SystemCollector(svc))
    return registry


@blp.route("/metrics")
class Metrics(MethodView):
    @blp.doc(
        responses={
            "200": {
                "description": "Prometheus text exposition format.",
                "content": {
                    "text/plain": {"schema": {"type": "string"}},
                    "application/openmetrics-text": {"schema": {"type": "string"}},
                },
            }
        }
    )
    def get(self) -> Any:
        """Request, task, queue, worker and beat metrics in Prometheus text format (or
        OpenMetrics, when the scraper's Accept header asks for it)."""
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return Response(encode(metrics_registry(services())), content_type=content_type)
