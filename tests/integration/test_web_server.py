"""The API as deployed: `python -m api.serve` (Granian), real HTTP, many clients at once."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from config import load_settings
from config.redis_server import free_port
from tests.support import Service, api_command, eventually, service_env
from tests.tls import make_certificates
from workflows.results import meta_key

pytestmark = pytest.mark.integration

SUBMISSIONS = 1000
CLIENTS = 32


def serve(
    redis_url: str, log: Path, scheme: str = "http", verify: Any = True, **env: object
) -> tuple[Service, str]:
    """The web server on a free port, started as the Procfile starts it."""
    port = free_port()
    service = Service(api_command(), service_env(redis_url, PORT=port, **env), log).start()
    base = f"{scheme}://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return requests.get(f"{base}/health", timeout=2, verify=verify).status_code == 200
        except requests.RequestException:
            return False

    service.ready_when(healthy, "the web server to answer", interval=0.2)
    return service, base


@pytest.fixture(scope="module")
def web(redis_url: str, logs_dir: Path) -> Iterator[str]:
    service, base = serve(redis_url, logs_dir / "web.log", RATE_LIMIT="100000/minute")
    yield base
    service.stop()


def test_https_when_given_a_certificate(redis_url: str, tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make certificates")
    tls = make_certificates(tmp_path / "tls")
    service, base = serve(
        redis_url,
        tmp_path / "web.log",
        scheme="https",
        TLS_CERT_FILE=tls.cert_file,
        TLS_KEY_FILE=tls.key_file,
        TRUSTED_HOSTS="api.example",
        verify=str(tls.ca_file),
    )
    try:
        # Granian tells the app the request came over HTTPS: browsers are told to keep to it
        # for a name the API is known by, and not for a loopback one (every local port's).
        named = requests.post(
            f"{base}/add",
            json={"a": 1, "b": 2},
            headers={"Host": "api.example"},
            verify=tls.ca_file,
        )
        assert named.status_code == 202
        assert named.headers.get("Strict-Transport-Security") == "max-age=31536000"
        response = requests.post(f"{base}/add", json={"a": 1, "b": 2}, verify=tls.ca_file)
        assert response.status_code == 202
        assert "Strict-Transport-Security" not in response.headers
        with pytest.raises(requests.ConnectionError):  # plain HTTP is not spoken
            requests.get(base.replace("https://", "http://") + "/health", timeout=5)
    finally:
        service.stop()


def test_log_level_warning_leaves_out_the_per_request_lines(
    web: str, redis_url: str, tmp_path: Path, logs_dir: Path
) -> None:
    quiet, quiet_base = serve(redis_url, tmp_path / "quiet-web.log", LOG_LEVEL="WARNING")
    try:
        for base in (web, quiet_base):
            assert (
                requests.post(f"{base}/add", json={"a": 1, "b": 2}, timeout=10).status_code == 202
            )
        # The default (INFO) logs the request and the task it sent; WARNING neither, nor
        # Granian's own start-up lines.
        loud_log = (logs_dir / "web.log").read_text()
        assert '"POST /add" 202' in loud_log and "SENT queue=default" in loud_log
        assert "Listening at" in loud_log
        quiet_log = quiet.log()
        assert "/add" not in quiet_log and "SENT" not in quiet_log
        assert "Listening at" not in quiet_log
    finally:
        quiet.stop()


def test_ctrl_c_stops_the_server_at_once_every_time(redis_url: str, tmp_path: Path) -> None:
    """A terminal's Ctrl-C reaches the server and its workers together. Workers used to get
    SIGINT and their parent's SIGTERM at once, and about one time in three handled neither:
    Granian killed them 10 s later."""
    for attempt in range(4):
        server, base = serve(redis_url, tmp_path / f"web-{attempt}.log")
        assert server.process is not None
        try:
            workers = server.children()
            assert len(workers) == load_settings().web_workers
            # A worker stops on its parent's word only: SIGINT of its own changes nothing.
            os.kill(workers[0], signal.SIGINT)
            time.sleep(0.5)
            assert server.children() == workers
            assert requests.get(f"{base}/health", timeout=5).status_code == 200

            os.killpg(server.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
            started = time.monotonic()
            assert server.process.wait(timeout=30) == 0
            elapsed = time.monotonic() - started
        finally:
            server.kill()
        # Granian may still SIGKILL a worker in the last milliseconds of its exit, and say it
        # "refused to gracefully stop": harmless, it had stopped serving. A hang is not.
        assert elapsed < 5, f"stop {attempt + 1} took {elapsed:.1f} s:\n{server.log()[-2000:]}"


def oversized() -> bytes:
    """A JSON body just over the default MAX_REQUEST_BYTES."""
    limit = load_settings({}).max_request_bytes
    return b'{"a": 1, "b": 2, "pad": "' + b"x" * (limit + 1024) + b'"}'


def test_a_second_server_on_a_port_in_use_refuses_to_start(
    web: str, redis_url: str, logs_dir: Path
) -> None:
    # Granian listens with SO_REUSEPORT: without the check both would listen, and the
    # kernel would split the clients between them.
    port = web.rsplit(":", 1)[1]
    second = Service(
        api_command(), service_env(redis_url, PORT=port), logs_dir / "second-web.log"
    ).start()
    assert second.process is not None
    try:
        assert second.process.wait(timeout=30) == 1
    finally:
        second.stop()
    assert (
        f"sumflow: cannot listen on 127.0.0.1:{port}: Address already in use. "
        "Is another server running there? Stop it, or set PORT." in second.log()
    )
    assert requests.get(f"{web}/health", timeout=5).status_code == 200


def test_an_oversized_body_is_a_json_413(web: str) -> None:
    response = requests.post(
        f"{web}/add", data=oversized(), headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 413
    assert response.json()["code"] == 413
    assert "MAX_REQUEST_BYTES" in response.json()["message"]


def test_an_oversized_chunked_body_is_a_json_413(web: str) -> None:
    body = oversized()
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    response = requests.post(
        f"{web}/add", data=chunks, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json()["code"] == 413


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        # Two keys cannot both be honoured; the server hands them over joined by a comma.
        ([b"first", b"second"], "Must be one key: send the header once, without commas."),
        # The server hands a value that is not ASCII over as an empty string.
        ([b"ab\xc3\xa9"], "Must be 1 to 255 printable ASCII characters, without spaces."),
    ],
)
def test_idempotency_keys_the_server_mangles_are_refused(
    web: str, keys: list[bytes], message: str
) -> None:
    host, port = web.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest("POST", "/add")
    connection.putheader("Content-Type", "application/json")
    for key in keys:
        connection.putheader("Idempotency-Key", key)
    body = b'{"a": 1, "b": 2}'
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    assert response.status == 422
    assert answer["errors"] == {"headers": {"Idempotency-Key": [message]}}
    assert answer["message"] == f"Invalid request: Idempotency-Key: {message}"


def test_a_chunked_body_within_the_limit_is_read_whole(web: str) -> None:
    body = b'{"a": 2, "b": 3, "queue": "default"' + b" " * 100_000 + b"}"
    chunks = (body[i : i + 4096] for i in range(0, len(body), 4096))
    response = requests.post(
        f"{web}/add", data=chunks, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(("extra", "status"), [(0, 202), (1, 413)], ids=["at", "past"])
def test_a_chunked_body_is_refused_from_one_byte_past_the_limit(
    web: str, extra: int, status: int
) -> None:
    """MAX_REQUEST_BYTES is the largest body taken, chunked or not (Flask takes a declared
    length of exactly the limit too)."""
    limit = load_settings({}).max_request_bytes
    start, end = b'{"a": 2, "b": 3', b"}"
    body = start + b" " * (limit + extra - len(start) - len(end)) + end
    assert len(body) == limit + extra
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    response = requests.post(
        f"{web}/add", data=chunks, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"Content-Type": "text/plain"}, b"a=1&b=2", "The request body must be JSON"),
        (
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            gzip.compress(b'{"a": 1, "b": 2}'),
            "The request body must not be encoded (Content-Encoding: gzip)",
        ),
    ],
    ids=["form", "gzip"],
)
def test_a_chunked_body_gets_the_same_415_as_any_other(
    web: str, headers: dict[str, str], body: bytes, message: str
) -> None:
    """werkzeug reports no length for a chunked body, and the 415 checks used to skip it: a
    form body was a 422 naming missing fields, a gzip one a 400 about bad JSON."""
    response = requests.post(f"{web}/add", data=iter([body]), headers=headers, timeout=10)
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.status_code == 415, response.text
    assert response.json()["message"].startswith(message)


def test_a_thousand_concurrent_submissions_are_all_accepted_and_correct(
    web: str, start_worker: Callable[..., Service]
) -> None:
    # A worker of its own on "priority" (the shared one consumes "default"), with no delay.
    start_worker(("priority",), concurrency=2, ADD_DELAY_SECONDS=0)
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        return local.session

    def submit(i: int) -> tuple[int, int, Any]:
        body = {"a": i, "b": i * i, "queue": "priority"}
        response = session().post(f"{web}/add", json=body, timeout=30)
        return i, response.status_code, response.json()

    with ThreadPoolExecutor(CLIENTS) as pool:
        submitted = list(pool.map(submit, range(SUBMISSIONS)))

    # Every one accepted, each with its own id.
    assert [code for _, code, _ in submitted] == [202] * SUBMISSIONS
    expected = {body["task_id"]: i + i * i for i, _, body in submitted}
    assert len(expected) == SUBMISSIONS

    def outcome(item: tuple[str, int]) -> bool:
        task_id, total = item
        response = session().get(f"{web}/result/{task_id}", params={"wait": 30}, timeout=40)
        return response.json() == {"status": "SUCCESS", "result": total}

    # Every one computed, and correct: none lost, none left PENDING.
    with ThreadPoolExecutor(12) as pool:
        assert all(pool.map(outcome, expected.items()))


def test_long_polls_cannot_take_every_thread(redis_url: str, logs_dir: Path) -> None:
    # One process of 4 threads: 3 may wait, 1 is kept for everything else (api/wait_slots.py).
    service, base = serve(
        redis_url, logs_dir / "web-waits.log", RATE_LIMIT="", WEB_WORKERS=1, WEB_THREADS=4
    )
    try:
        pending = requests.post(f"{base}/add", json={"a": 1, "b": 2, "countdown": 60}, timeout=10)
        result = f"{base}/result/{pending.json()['task_id']}"
        with ThreadPoolExecutor(4) as pool:
            polls = [pool.submit(requests.get, result, params={"wait": 25}) for _ in range(4)]
            # One poll more than the slots: it comes back now, not in 25 s, and says when to
            # ask again; so the other three hold every slot.
            answered = next(iter(as_completed(polls, timeout=10))).result()
            assert answered.json() == {"status": "PENDING", "result": None}
            assert answered.headers["Retry-After"] == "1"

            # Every slot waits, and the server still answers on the thread kept free.
            assert requests.get(f"{base}/health", timeout=10).status_code == 200
            assert (
                requests.post(f"{base}/add", json={"a": 2, "b": 2}, timeout=10).status_code == 202
            )
            assert sum(poll.done() for poll in polls) == 1

            # Revoking the task ends the three waits at once.
            requests.delete(result.replace("/result/", "/tasks/"), timeout=10)
            statuses = [poll.result(timeout=20).json()["status"] for poll in polls]
        assert sorted(statuses) == ["PENDING", "REVOKED", "REVOKED", "REVOKED"]
    finally:
        service.stop()


def test_a_stopped_server_answers_its_long_polls_at_once(
    quiet_redis_url: str, tmp_path: Path
) -> None:
    """A rolling restart stops the API with SIGTERM while clients long-poll. Granian lets a
    worker finish its running requests, but kills it after KILL_TIMEOUT_SECONDS (10 s): a
    ``?wait=25`` was cut with the connection closed, and so was a ``Prefer: wait`` POST whose
    add was already queued, its client never told the task id. The new server could not
    listen on the port for those 10 s either."""
    service, base = serve(quiet_redis_url, tmp_path / "web.log", RATE_LIMIT="")
    raw = redis.Redis.from_url(quiet_redis_url)
    assert service.process is not None
    try:
        # No worker reads this Redis: both tasks stay PENDING for as long as anyone waits.
        queued = requests.post(f"{base}/add", json={"a": 1, "b": 2}, timeout=10).json()
        with ThreadPoolExecutor(2) as pool:
            poll = pool.submit(
                requests.get, f"{base}/result/{queued['task_id']}", params={"wait": 25}, timeout=60
            )
            prefer = pool.submit(
                requests.post,
                f"{base}/add",
                json={"a": 2, "b": 3},
                headers={"Prefer": "wait=25"},
                timeout=60,
            )
            # Both wait: each has subscribed to its task's result channel.
            eventually(
                lambda: len(raw.pubsub_channels(meta_key("*"))) == 2, what="both requests to wait"
            )
            service.process.send_signal(signal.SIGTERM)
            polled, submitted = poll.result(), prefer.result()
        assert service.process.wait(timeout=30) == 0
    finally:
        service.kill()
    # Each wait ended with the task as it stands, in the contract's shape.
    assert polled.status_code == 200
    assert polled.json() == {"status": "PENDING", "result": None}
    assert submitted.status_code == 202
    task_id = submitted.json()["task_id"]
    assert submitted.headers["Location"] == f"/result/{task_id}"
    assert raw.llen("default") == 2  # both adds queued, once each
    assert "refused to gracefully stop" not in service.log()


def raw_request(base: str, head: bytes, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """Send ``head`` (request line and headers) and ``body`` as written, for requests no HTTP
    client will make (another Host, none at all); returns the status and the JSON answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(head + b"Connection: close\r\n\r\n" + body)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def test_a_page_reaching_the_api_through_dns_rebinding_is_refused(web: str) -> None:
    """A page on evil.example whose name now points at 127.0.0.1 has its visitor's browser
    send requests here, with its own name in Host. The server listens on 127.0.0.1 with no
    TRUSTED_HOSTS (as `make run` serves it), so it answers its loopback names only."""
    port = web.rsplit(":", 1)[1].encode()
    schedule = b'{"name": "rebound", "a": 1, "b": 2, "every": 60}'
    post = b"POST /schedules HTTP/1.1\r\nContent-Type: application/json\r\n"
    post += b"Content-Length: %d\r\n" % len(schedule)
    status, answer = raw_request(web, post + b"Host: evil.example:" + port + b"\r\n", schedule)
    assert status == 421
    assert answer["message"].startswith(
        f"The Host header names 'evil.example:{port.decode()}', a host this service does not "
        "answer for"
    )
    assert "TRUSTED_HOSTS" in answer["message"]
    # Nothing was created: the schedule is unknown to a client that names the API rightly.
    for name in (b"localhost", b"127.0.0.1", b"[::1]"):
        get = b"GET /schedules/rebound HTTP/1.1\r\nHost: " + name + b":" + port + b"\r\n"
        assert raw_request(web, get)[0] == 404, name
    # HTTP/1.0 may send no Host at all; no browser does.
    assert raw_request(web, b"GET /retry-policies HTTP/1.0\r\n")[0] == 200
