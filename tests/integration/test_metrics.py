"""GET /metrics: valid Prometheus text whose counters follow real requests and real tasks.

The API runs under its web server with two worker processes (the `live_api` fixture), so the request
counters are only right if the multiprocess aggregation works; the task outcomes come from
real worker processes through Redis.

The counters are global, so this module runs on a Redis, API and workers of its own (the
module-scoped fixtures below stand in for conftest's session-wide ones): work another test
left behind, such as a countdown add the shared worker runs seconds later, would otherwise be
counted here too.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.schedules import schedule
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from redbeat import RedBeatSchedulerEntry

from config import load_settings
from config.redis_server import free_port
from tests.conftest import served_api, shared_worker
from tests.support import AppBuilder, Service, eventually
from workflows import SumflowCelery, create_celery

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def redis_url(quiet_redis_url: str) -> str:
    """This module's Redis, which conftest's function-scoped fixtures (start_worker) then use."""
    return quiet_redis_url


@pytest.fixture(scope="module")
def celery_app(redis_url: str) -> SumflowCelery:
    return create_celery(load_settings(redis_url=redis_url))


@pytest.fixture(scope="module")
def live_api(redis_url: str, logs_dir: Path) -> Iterator[str]:
    yield from served_api(redis_url, logs_dir / "metrics-api.log")


@pytest.fixture(scope="module")
def worker(redis_url: str, celery_app: SumflowCelery, logs_dir: Path) -> Iterator[Service]:
    yield from shared_worker(redis_url, celery_app, logs_dir)


def parse(text: str) -> Samples:
    """Every sample as {(name, sorted labels): value}; raises if the text is not valid."""
    return {
        sample_key(sample.name, **sample.labels): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return parse(response.read().decode())


def sample_key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, tuple(sorted(labels.items())))


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sample's value; a sample that is not there fails the test (a gauge at 0 is there)."""
    key = sample_key(name, **labels)
    assert key in samples, f"no sample {key}"
    return samples[key]


def count(samples: Samples, name: str, **labels: str) -> float:
    """A labelled counter's value: it has no sample until its first increment, which reads 0."""
    return samples.get(sample_key(name, **labels), 0.0)


def http(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=40) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def submit(url: str, **body: Any) -> str:
    status, answer = http(url, "POST", "/add", body)
    assert status == 202, answer
    return answer["task_id"]


def finished(url: str, task_id: str) -> dict[str, Any]:
    status, answer = http(url, "GET", f"/result/{task_id}?wait=20")
    assert status == 200 and answer["status"] in ("SUCCESS", "FAILURE", "REVOKED"), answer
    return answer


def outcomes(url: str, state: str, queue: str = "default") -> float:
    samples = scrape(url)
    return count(
        samples, "sumflow_task_outcomes_total", state=state, queue=queue, task="sumflow.add"
    )


def test_metrics_is_prometheus_text_with_every_family(live_api: str) -> None:
    samples = scrape(live_api)
    names = {name for name, _ in samples}
    for expected in (
        "sumflow_http_requests_total",
        "sumflow_http_request_duration_seconds_bucket",
        "sumflow_task_outcomes_total",
        "sumflow_queue_messages",
        "sumflow_queue_workers",
        "sumflow_workers",
        "sumflow_beat_up",
        "sumflow_schedules",
        "sumflow_redis_up",
    ):
        assert expected in names, expected
    assert all(name.startswith("sumflow_") for name in names)
    assert value(samples, "sumflow_redis_up") == 1
    # Every configured queue is listed, even before anything happened on it.
    assert ("sumflow_queue_messages", (("queue", "priority"),)) in samples


def test_request_counters_add_up_across_web_workers(live_api: str, worker: Service) -> None:
    before = scrape(live_api)
    successes = outcomes(live_api, "SUCCESS")
    task_ids = [submit(live_api, a=n, b=1) for n in range(12)]
    http(live_api, "POST", "/add", {"a": "x", "b": 1})  # refused: not a submission
    after = scrape(live_api)

    def delta(name: str, **labels: str) -> float:
        return count(after, name, **labels) - count(before, name, **labels)

    assert delta("sumflow_submissions_total", endpoint="/add") == 12
    assert delta("sumflow_http_requests_total", method="POST", endpoint="/add", status="202") == 12
    assert delta("sumflow_http_requests_total", method="POST", endpoint="/add", status="422") == 1
    latency = "sumflow_http_request_duration_seconds_count"
    assert delta(latency, method="POST", endpoint="/add") == 13
    # A path template, not one label per task id.
    http(live_api, "GET", "/result/not-a-task")
    labels = {dict(labels).get("endpoint") for _, labels in scrape(live_api)}
    assert "/result/<task_id>" in labels
    assert not any(label and "not-a-task" in label for label in labels)

    # The worker counts all twelve outcomes, wherever the scrape lands.
    assert [finished(live_api, task_id)["result"] for task_id in task_ids] == list(range(1, 13))
    eventually(lambda: outcomes(live_api, "SUCCESS") == successes + 12, what="12 successes")


def test_task_outcomes_are_counted_by_the_workers(live_api: str, worker: Service) -> None:
    success, failure, retry = (outcomes(live_api, s) for s in ("SUCCESS", "FAILURE", "RETRY"))

    assert finished(live_api, submit(live_api, a=5, b=3))["status"] == "SUCCESS"
    eventually(lambda: outcomes(live_api, "SUCCESS") == success + 1, what="SUCCESS counted")

    failing = submit(live_api, a=1, b=1, fail_times=1, retry_policy="none")
    assert finished(live_api, failing)["status"] == "FAILURE"
    eventually(lambda: outcomes(live_api, "FAILURE") == failure + 1, what="FAILURE counted")

    retried = submit(live_api, a=2, b=2, fail_times=1, retry_policy="aggressive")
    assert finished(live_api, retried) == {"status": "SUCCESS", "result": 4}
    eventually(lambda: outcomes(live_api, "RETRY") == retry + 1, what="RETRY counted")
    eventually(lambda: outcomes(live_api, "SUCCESS") == success + 2, what="second SUCCESS")


def test_revokes_are_counted_and_queue_depth_is_shown(
    live_api: str, start_worker: Callable[..., Service]
) -> None:
    # The shared worker does not consume "priority": the task waits there, counted.
    depth = value(scrape(live_api), "sumflow_queue_messages", queue="priority")
    revoked = outcomes(live_api, "REVOKED", "priority")
    task_id = submit(live_api, a=1, b=2, queue="priority")
    assert value(scrape(live_api), "sumflow_queue_messages", queue="priority") == depth + 1

    # Revoked while waiting; a worker started later skips it, and that is counted.
    status, _ = http(live_api, "DELETE", f"/tasks/{task_id}")
    assert status == 202
    start_worker(("priority",))
    eventually(
        lambda: outcomes(live_api, "REVOKED", "priority") == revoked + 1, what="REVOKED counted"
    )
    assert value(scrape(live_api), "sumflow_queue_messages", queue="priority") == 0


def test_a_terminated_task_is_counted_as_revoked(
    live_api: str, start_worker: Callable[..., Service]
) -> None:
    start_worker(("priority",), ADD_DELAY_SECONDS=30)
    revoked = outcomes(live_api, "REVOKED", "priority")
    task_id = submit(live_api, a=1, b=2, queue="priority")
    eventually(
        lambda: http(live_api, "GET", f"/result/{task_id}")[1]["status"] == "STARTED",
        what="the task to start",
    )
    status, _ = http(live_api, "DELETE", f"/tasks/{task_id}?terminate=true")
    assert status == 202
    assert finished(live_api, task_id)["status"] == "REVOKED"
    eventually(
        lambda: outcomes(live_api, "REVOKED", "priority") == revoked + 1, what="REVOKED counted"
    )


def test_schedules_are_counted_from_redbeat(live_api: str, celery_app: SumflowCelery) -> None:
    before = value(scrape(live_api), "sumflow_schedules")
    entry = RedBeatSchedulerEntry(
        "metrics-test", "sumflow.add", schedule(3600), args=(1, 2), app=celery_app
    )
    entry.save()
    try:
        assert value(scrape(live_api), "sumflow_schedules") == before + 1
    finally:
        entry.delete()
    assert value(scrape(live_api), "sumflow_schedules") == before


def test_metrics_answer_without_redis(build_app: AppBuilder) -> None:
    app = build_app({"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    client: FlaskClient = app.test_client()
    client.get("/queues")  # a 503, counted like any answer
    client.open("/add", method="FROB")  # an odd method does not become a label of its own
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = parse(response.get_data(as_text=True))
    assert value(samples, "sumflow_redis_up") == 0
    assert (
        value(
            samples,
            "sumflow_http_requests_total",
            method="GET",
            endpoint="/queues",
            status="503",
        )
        == 1
    )
    assert (
        value(
            samples,
            "sumflow_http_requests_total",
            method="other",
            endpoint="unmatched",
            status="405",
        )
        == 1
    )


def test_every_submitting_endpoint_counts_from_0_before_its_first_submission(
    build_app: AppBuilder,
) -> None:
    """A labelled counter has no series until its first increment, so rate() and increase()
    missed the first submission of each web process, and an alert on no submissions saw no
    series at all (waits declined and task outcomes were declared at 0 already)."""
    app = build_app({"redis_url": f"redis://127.0.0.1:{free_port()}/0"})
    samples = parse(app.test_client().get("/metrics").get_data(as_text=True))
    submissions = {
        dict(labels)["endpoint"]: count
        for (name, labels), count in samples.items()
        if name == "sumflow_submissions_total"
    }
    assert submissions == dict.fromkeys(("/add", "/chains", "/groups", "/chords", "/schedules"), 0)
