"""The two ways a user can run sums: sumflow's HTTP API, or plain Celery calls.

`ApiClient` is one keep-alive HTTP connection (one per client thread). `RawCelery` is the
baseline a user would otherwise write: a stock `Celery` app on the same broker and backend URL,
JSON only, calling the worker's task by name. It knows nothing of sumflow's code.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any

from celery import Celery, chain, chord, chunks, group
from celery.canvas import Signature

__all__ = ["ApiClient", "ApiError", "EndpointMissing", "RawCelery"]

ADD = "sumflow.add"
DONE = ("SUCCESS", "FAILURE", "REVOKED")


class EndpointMissing(Exception):
    """The API answered 404/405 to a route of the contract: it is not built in this branch."""


class ApiError(RuntimeError):
    """Any other unexpected answer."""


class ApiClient:
    def __init__(self, port: int, timeout: float = 120.0) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def close(self) -> None:
        self.conn.close()

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body).encode()
        headers = dict(headers or {})
        if payload is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, payload, headers)
                response = self.conn.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError):
                # the server closed an idle keep-alive connection: reconnect once.
                self.conn.close()
                if attempt == 2:
                    raise
        return response.status, (json.loads(data) if data else None)

    def post(self, path: str, body: Any) -> Any:
        status, data = self.request("POST", path, body)
        if status in (404, 405):
            raise EndpointMissing(path)
        if status != 202:
            raise ApiError(f"POST {path} answered {status}: {data}")
        return data

    def add(self, a: Any, b: Any) -> str:
        return self.post("/add", {"a": a, "b": b})["task_id"]

    def add_waiting(self, a: Any, b: Any, wait: float = 5.0) -> Any:
        """One request: ``POST /add`` with ``Prefer: wait``; the sum, read from the answer (200)
        or, if the task was not done in time (202), from ``/result``."""
        status, data = self.request("POST", "/add", {"a": a, "b": b}, {"Prefer": f"wait={wait:g}"})
        if status == 202:
            return self.result(data["task_id"], wait=wait)
        if status != 200:
            raise ApiError(f"POST /add answered {status}: {data}")
        if data["status"] != "SUCCESS":
            raise ApiError(f"task {data['task_id']} ended {data['status']}: {data['result']}")
        return data["result"]

    def result(self, task_id: str, wait: float = 5.0, timeout: float = 120.0) -> Any:
        """Long-poll ``/result`` until the task is done; its value, or ApiError on failure."""
        deadline = time.monotonic() + timeout
        while True:
            status, data = self.request("GET", f"/result/{task_id}?wait={wait:g}")
            if status != 200:
                raise ApiError(f"GET /result/{task_id} answered {status}: {data}")
            if data["status"] == "SUCCESS":
                return data["result"]
            if data["status"] in DONE:
                raise ApiError(f"task {task_id} ended {data['status']}: {data['result']}")
            if time.monotonic() > deadline:
                raise ApiError(f"task {task_id} not done after {timeout} s: {data}")

    def group_results(self, group_id: str, timeout: float = 240.0) -> list[Any]:
        """Poll ``GET /groups/<id>`` until every member is done; the results in order.

        The poll interval starts at 10 ms and grows to 200 ms, so short groups are not
        overstated by a coarse interval and long ones are not slowed by constant polling.
        """
        deadline = time.monotonic() + timeout
        interval = 0.01
        while True:
            status, data = self.request("GET", f"/groups/{group_id}")
            if status != 200:
                raise ApiError(f"GET /groups/{group_id} answered {status}: {data}")
            if data.get("failed"):
                raise ApiError(f"group {group_id}: {data['failed']} members failed")
            if data["completed"] >= data["total"]:
                return data["results"]
            if time.monotonic() > deadline:
                raise ApiError(f"group {group_id} not done after {timeout} s")
            time.sleep(interval)
            interval = min(interval * 1.5, 0.2)


class RawCelery:
    """Plain Celery, as its documentation shows it, against the same workers."""

    def __init__(self, redis_url: str) -> None:
        self.app = Celery("bench-raw", broker=redis_url, backend=redis_url, set_as_current=False)
        self.app.conf.update(
            task_serializer="json",
            result_serializer="json",
            accept_content=["json"],
            result_accept_content=["json"],
            # The only change from Celery's defaults: the queue the workers consume.
            task_default_queue="default",
        )
        self.add: Signature = self.app.signature(ADD)

    def close(self) -> None:
        self.app.close()

    def add_and_get(self, a: Any, b: Any, timeout: float = 30.0) -> Any:
        return self.add.delay(a, b).get(timeout=timeout)

    def sig(self, *args: Any) -> Signature:
        return self.app.signature(ADD, args=args)

    def group(self, pairs: list[list[Any]], timeout: float = 240.0) -> list[Any]:
        return group(self.sig(a, b) for a, b in pairs).apply_async().get(timeout=timeout)

    def chord(self, pairs: list[list[Any]], timeout: float = 240.0) -> Any:
        # The workers have no summing task of their own, so the callback is Celery's built-in
        # `celery.accumulate` (it returns the member results) and the client sums the list.
        body = self.app.signature("celery.accumulate")
        result = chord(self.sig(a, b) for a, b in pairs)(body).get(timeout=timeout)
        return sum(result[0] if len(result) == 1 and isinstance(result[0], list) else result)

    def chain(self, numbers: list[Any], timeout: float = 240.0) -> Any:
        steps = [self.sig(numbers[0], numbers[1])] + [self.sig(n) for n in numbers[2:]]
        return chain(*steps).apply_async().get(timeout=timeout)

    def chunks(self, pairs: list[list[Any]], size: int, timeout: float = 240.0) -> list[Any]:
        batches = (
            chunks(self.add, pairs, size, app=self.app).group().apply_async().get(timeout=timeout)
        )
        return [value for batch in batches for value in batch]
