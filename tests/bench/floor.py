"""The API's floor: sumflow's own submit and wait, served as `make run` serves the API, minus
layers of the real app. ``python -m tests.bench --web-app bare`` (or ``flask``) measures it.

Both apps answer just what the benchmark's throughput and latency scenarios ask (``POST /add``,
``GET /result/<id>?wait=N``, ``GET /health``; anything else is a 404, which the benchmark
reports as ``n/a``) with the same Redis work as sumflow's views:
`submit_add` and `wait_for_task`. The gap between them and the real app is what Flask, the
OpenAPI layer, validation, the rate limiter, metrics and the access log cost (README,
Performance). They are measuring tools, not a service: no validation, no errors handled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from flask import Flask, request

from api.services import Services
from config import load_settings
from workflows.results import wait_for_task
from workflows.submit import TaskOptions, submit_add

__all__ = ["bare", "flask"]

RESULT_PREFIX = "/result/"
PLAIN = TaskOptions()

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _json(start_response: StartResponse, status: str, body: Any) -> Iterable[bytes]:
    start_response(status, [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def bare() -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A plain WSGI function: the server and sumflow's Redis work, and nothing else."""
    svc = Services.create(load_settings())

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ["PATH_INFO"]
        if environ["REQUEST_METHOD"] == "POST" and path == "/add":
            body = json.loads(environ["wsgi.input"].read())
            task_id = submit_add(svc.celery, body["a"], body["b"], PLAIN)
            return _json(start_response, "202 Accepted", {"task_id": task_id})
        if path.startswith(RESULT_PREFIX):
            query = parse_qs(environ.get("QUERY_STRING", ""))
            wait = float(query.get("wait", ["0"])[0])
            view = wait_for_task(svc.redis, path[len(RESULT_PREFIX) :], wait)
            if view is None:
                return _json(start_response, "404 Not Found", {"message": "unknown id"})
            return _json(start_response, "200 OK", {"status": view.status, "result": view.result})
        if path == "/health":
            return _json(start_response, "200 OK", {"status": "ok"})
        return _json(start_response, "404 Not Found", {"message": "not in the floor app"})

    return app


def flask() -> Flask:
    """The same in plain Flask routes: no flask-smorest, no hooks, no extensions."""
    svc = Services.create(load_settings())
    app = Flask(__name__)

    @app.post("/add")
    def add() -> Any:
        body = request.get_json()
        return {"task_id": submit_add(svc.celery, body["a"], body["b"], PLAIN)}, 202

    @app.get("/result/<task_id>")
    def result(task_id: str) -> Any:
        view = wait_for_task(svc.redis, task_id, float(request.args.get("wait", 0)))
        if view is None:
            return {"message": "unknown id"}, 404
        return {"status": view.status, "result": view.result}

    @app.get("/health")
    def health() -> Any:
        return {"status": "ok"}

    return app
