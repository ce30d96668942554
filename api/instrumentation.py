"""HTTP metrics and the access log for every endpoint, recorded by app-wide request hooks.

The hooks label each request with its URL rule (``/result/<task_id>``), not its view, so an
endpoint added by a new blueprint is measured the moment it is registered. Metrics live in a
registry of the app's own; under the web server's worker processes prometheus_client's multiprocess
mode also writes them to files that ``GET /metrics`` adds up across workers (api/serve.py).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from flask import Flask, Response, current_app, g, request
from flask.sansio.app import App
from prometheus_client import CollectorRegistry, Counter, Histogram

from api.access_log import log_request

__all__ = [
    "HttpMetrics",
    "count_declined_wait",
    "declare_submitting_endpoints",
    "declare_waiting_endpoints",
    "endpoint_label",
    "http_metrics",
    "init_app",
]

EXTENSION_KEY = "sumflow_http_metrics"

#: Latency buckets up to the longest ``?wait`` (30 s), which holds a request on purpose.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

_CONVERTER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

#: Methods kept as labels; any other (clients may send any token) is "other", so that a
#: stray client cannot grow the number of series without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def endpoint_label(rule: str | None) -> str:
    """``/result/<string:task_id>`` → ``/result/<task_id>``; no rule (a 404) → ``unmatched``."""
    return _CONVERTER.sub(r"<\1>", rule) if rule else "unmatched"


@dataclass(frozen=True, slots=True)
class HttpMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    submissions: Counter
    waits_declined: Counter

    @classmethod
    def create(cls) -> HttpMetrics:
        registry = CollectorRegistry()
        return cls(
            registry=registry,
            requests=Counter(
                "sumflow_http_requests",
                "HTTP requests answered, by method, endpoint and status code.",
                ["method", "endpoint", "status"],
                registry=registry,
            ),
            latency=Histogram(
                "sumflow_http_request_duration_seconds",
                "Time to answer a request, by method and endpoint (?wait included).",
                ["method", "endpoint"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
            submissions=Counter(
                "sumflow_submissions",
                "Work accepted: POST requests answered 2xx, by endpoint.",
                ["endpoint"],
                registry=registry,
            ),
            waits_declined=Counter(
                "sumflow_waits_declined",
                "Waits (?wait, Prefer: wait) answered at once because every waiting slot of the "
                "web process was taken (api/wait_slots.py): a sign to raise WEB_THREADS.",
                ["endpoint"],
                registry=registry,
            ),
        )

    def observe(self, method: str, endpoint: str, status: int, seconds: float | None) -> None:
        self.requests.labels(method, endpoint, str(status)).inc()
        if seconds is not None:
            self.latency.labels(method, endpoint).observe(seconds)
        if method == "POST" and 200 <= status < 300:
            self.submissions.labels(endpoint).inc()


def current_endpoint() -> str:
    """The current request's endpoint label (its URL rule, or ``unmatched``)."""
    return endpoint_label(request.url_rule.rule if request.url_rule is not None else None)


def declare_waiting_endpoints(app: App, *endpoints: str) -> None:
    """Report 0 declined waits for ``endpoints`` from the first scrape: a labelled counter
    has no series until its first increment, and an alert on its growth would see none."""
    for endpoint in endpoints:
        app.extensions[EXTENSION_KEY].waits_declined.labels(endpoint)


def declare_submitting_endpoints(app: Flask) -> None:
    """Report 0 submissions for every endpoint that takes a POST from the first scrape, as
    `declare_waiting_endpoints` does for waits: else rate() misses each web process's first
    submission. Call once every blueprint is registered."""
    submissions = app.extensions[EXTENSION_KEY].submissions
    for rule in app.url_map.iter_rules():
        if "POST" in (rule.methods or ()):
            submissions.labels(endpoint_label(rule.rule))


def count_declined_wait() -> None:
    """Count a wait of the current request that no waiting slot was free for."""
    http_metrics().waits_declined.labels(current_endpoint()).inc()


def http_metrics() -> HttpMetrics:
    return current_app.extensions[EXTENSION_KEY]


def init_app(app: Flask) -> None:
    """Create the app's HTTP metrics and time every request. Call before other hooks, so that
    a request refused by an earlier ``before_request`` hook is timed too."""
    app.extensions[EXTENSION_KEY] = metrics = HttpMetrics.create()

    @app.before_request
    def _start_timer() -> None:
        g.sumflow_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("sumflow_started")
        elapsed = None if started is None else time.perf_counter() - started
        method = request.method if request.method in _METHODS else "other"
        metrics.observe(method, current_endpoint(), response.status_code, elapsed)
        log_request(request.environ, response.status_code, elapsed)
        return response
