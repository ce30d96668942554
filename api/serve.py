"""``python -m api.serve``: the API as `make run` and production serve it, under Granian.

``python -m api.serve MODULE:FACTORY`` serves another WSGI app factory with the same settings;
`make bench` uses it to measure the API's floor (tests/bench/floor.py).

Granian parses HTTP in Rust and hands each request to a pool of Python threads per worker
process, so the Python side pays for Flask and sumflow's own work and little else. `make bench`
measured it against gunicorn's threaded workers on the same app: 7-11% less web CPU per add
and a higher throughput ratio (README, Performance). Threads, not one request per process, because
``GET /result?wait=N`` holds a request open for up to 30 s.

Metrics: each worker is its own process, so prometheus_client runs in multiprocess mode. Every
worker writes its counters to files in PROMETHEUS_MULTIPROC_DIR and ``/metrics`` adds them up,
whichever worker answers. The directory is set here, before any worker starts, because
prometheus_client reads the variable once at import.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import signal
import ssl
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import granian._signals
from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels
from granian.server import MPServer, MTServer

from config import Settings, load_settings
from config.logging_config import server_logconfig
from config.ports import bind_error
from config.settings import ConfigError

if TYPE_CHECKING:
    from flask import Flask

__all__ = ["build_server", "main", "served_app", "tls_problem"]

#: The WSGI app factory, as Granian imports it in each worker: `served_app`.
APP_FACTORY = "api.serve:served_app"

#: Seconds a worker gets to finish its requests on shutdown, after which Granian kills it and
#: closes their connections. Long-polls end at once on shutdown (`_ending_waits_on_stop`), so
#: only a request stuck elsewhere (a Redis that does not answer) waits that long.
KILL_TIMEOUT_SECONDS = 10


def served_app() -> Flask:
    """`api.create_app`, with the workers asked at once: each worker process keeps its own
    answer from them (`workflows.inspection.WorkerDirectory`), and getting one takes the
    inspect's whole second, so each process's first /health waited for it, more than a 1 s
    probe timeout (Kubernetes' default) allows. Granian calls this in each worker process,
    after the fork (or spawn), so the thread it starts is that process's own. An app built
    elsewhere (tests, ``flask run``) asks on its first request."""
    from api import create_app  # here: the server's main process never loads the app
    from api.services import services

    app = create_app()
    with app.app_context():
        services().workers.warm()
    return app


def build_server(settings: Settings, factory: str = APP_FACTORY) -> MPServer | MTServer:
    """Granian as `make run` serves the API. HTTP mode, runtime and backpressure stay Granian's
    defaults: HTTP/1 only and the single-threaded runtime measured no faster, and a
    backpressure limit below the number of waiting clients stalls long-polls (README,
    Performance)."""
    # load_settings takes both files or neither; None is Granian's default: plain HTTP.
    cert, key = settings.tls_cert_file, settings.tls_key_file
    return Granian(  # MPServer, or MTServer on a free-threaded Python
        factory,
        factory=True,
        interface=Interfaces.WSGI,
        address=settings.host,
        port=settings.port,
        workers=settings.web_workers,
        # Threads per worker: each holds one request, a ?wait long-poll included. More than
        # the cores on purpose (Granian warns about it): a waiting request costs no CPU.
        blocking_threads=settings.web_threads,
        websockets=False,
        # A worker that dies (killed, out of memory) is replaced rather than leaving the
        # service short of capacity.
        respawn_failed_workers=True,
        workers_kill_timeout=KILL_TIMEOUT_SECONDS,
        # The app logs one line per request itself (api/access_log.py).
        log_access=False,
        # Granian sets its own logger to this level over the dictconfig's.
        log_level=LogLevels(settings.log_level.lower()),
        log_dictconfig=server_logconfig(settings),
        ssl_cert=Path(cert) if cert else None,
        ssl_key=Path(key) if key else None,
    )


def _prepare_metrics_dir(settings: Settings) -> tuple[str, bool]:
    """The multiprocess metrics directory, emptied: files from an earlier run would add old
    counts to the new ones. Returns (path, whether it is a temporary one of ours)."""
    own = not settings.prometheus_multiproc_dir
    path = tempfile.mkdtemp(prefix="sumflow-metrics-") if own else settings.prometheus_multiproc_dir
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):
        stale.unlink()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path, own


def tls_problem(settings: Settings) -> str | None:
    """Why the TLS_CERT_FILE and TLS_KEY_FILE settings cannot serve HTTPS, or None if they can
    (or are unset). Granian loads them as it starts, and a missing file was its traceback,
    naming no file."""
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if not cert or not key:  # load_settings takes both or neither
        return None
    for name, path in (("TLS_CERT_FILE", cert), ("TLS_KEY_FILE", key)):
        try:
            Path(path).read_bytes()
        except OSError as exc:
            return f"{name} cannot be read: {path}: {exc.strerror or exc}"
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        return (
            f"TLS_CERT_FILE and TLS_KEY_FILE are not a PEM certificate (chain) and its key: {exc}"
        )
    return None


def _listen_hint(error: OSError) -> str:
    """What to change when the API cannot listen: the port, or the host."""
    if error.errno == errno.EADDRINUSE:
        return "Is another server running there? Stop it, or set PORT."
    if error.errno == errno.EACCES:
        return "Set PORT to one this user may listen on (above 1023)."
    return "Set HOST to an address of this machine (0.0.0.0 for all of them)."


def _stop_only_on_parents_word() -> None:
    """In each forked Granian worker: block SIGINT, so that the parent's SIGTERM is the one
    signal that stops it.

    A terminal's Ctrl-C sends SIGINT to every process of its foreground group, workers
    included, and the parent then sends each worker SIGTERM. A worker that gets both at once
    handles neither about one time in three: its main thread waits on a lock that only a
    signal delivered to that thread interrupts, so it serves on until Granian kills it after
    KILL_TIMEOUT_SECONDS, cutting its requests. With SIGINT blocked, Ctrl-C stops the server
    as SIGTERM does, in well under a second.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _ending_waits_on_stop(set_sync_signals: Callable[[], Any]) -> Callable[[], Any]:
    """Granian's set-up of a WSGI worker's stop signals, followed by sumflow's: the worker's
    SIGTERM (its parent's word to stop) also ends its long-polls (`workflows.results.end_waits`).

    A stopping worker takes no more connections and lets running requests finish, then
    Granian kills it after KILL_TIMEOUT_SECONDS. A ``?wait`` or ``Prefer: wait`` of up to 30 s
    held it until then: measured, a SIGTERM took 11.5 s, and the waits' clients got their
    connection closed without an answer, a ``Prefer: wait`` POST whose add was queued never
    telling its id. Meanwhile no new server could listen on the port. Now each wait answers
    with its task as it stands within a second, and the worker stops.

    Granian calls this in each worker, after loading the app, and names no hook for it: so
    Granian's handlers are wrapped in place, once they are installed.
    """

    @functools.wraps(set_sync_signals)
    def set_up() -> Any:
        stop = set_sync_signals()
        for signum in (signal.SIGTERM, signal.SIGINT):
            granians = signal.getsignal(signum)
            if callable(granians):
                signal.signal(signum, _calling_first(_end_waits, granians))
        return stop

    return set_up


def _end_waits() -> None:
    """End the app's long-polls, if it has any: another factory (`make bench`'s floor apps)
    never loads the module that holds them, and a signal handler should not import it."""
    results = sys.modules.get("workflows.results")
    if results is not None:
        results.end_waits()


def _calling_first(
    first: Callable[[], None], handler: Callable[[int, FrameType | None], Any]
) -> Callable[[int, FrameType | None], Any]:
    def handle(signum: int, frame: FrameType | None) -> Any:
        first()
        return handler(signum, frame)

    return handle


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"sumflow: {exc}", file=sys.stderr)
        return 2
    problem = tls_problem(settings)
    if problem:
        print(f"sumflow: {problem}", file=sys.stderr)
        return 2
    unusable = bind_error(settings.host, settings.port)
    if unusable:
        print(
            f"sumflow: cannot listen on {settings.host}:{settings.port}: "
            f"{unusable.strerror or unusable}. {_listen_hint(unusable)}",
            file=sys.stderr,
        )
        return 1
    try:
        metrics_dir, own_dir = _prepare_metrics_dir(settings)
    except OSError as exc:
        where = exc.filename or settings.prometheus_multiproc_dir
        print(
            f"sumflow: PROMETHEUS_MULTIPROC_DIR cannot be used: {where}: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return 2
    os.register_at_fork(after_in_child=_stop_only_on_parents_word)
    # Read by each worker as it starts (Granian imports it at the call), so set once here.
    granian._signals.set_sync_signals = _ending_waits_on_stop(granian._signals.set_sync_signals)
    try:
        build_server(settings, *args[:1]).serve()
    finally:
        if own_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
