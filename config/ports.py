"""Whether a port can be listened on: for the API (api/serve.py), and for `make run`, which
starts Flower only where it can listen. Run as a module:

    python -m config.ports --for Flower FLOWER_PORT 5555   # exit 0 if 127.0.0.1:$FLOWER_PORT
                                                          # (5555 when unset) is free; else 1,
                                                          # with one line saying why
"""

from __future__ import annotations

import argparse
import os
import socket
import sys

__all__ = ["bind_error", "main"]


def bind_error(host: str, port: int) -> OSError | None:
    """Why ``host:port`` cannot be listened on (the error a bind met), or None if it can.

    Granian listens with SO_REUSEPORT, so a second server started on a port already served
    starts without a word and the kernel splits the connections between the two: clients
    get answers from whichever stack, maybe one on another Redis. A plain bind, which
    SO_REUSEPORT does not let through, tells first. SO_REUSEADDR lets it past connections
    of an earlier run still in TIME_WAIT, which Granian's and Tornado's (Flower's) own binds
    pass as well.
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        return exc
    return None


def main(argv: list[str] | None = None) -> int:
    """Exit 0 if the port ``variable`` names (``default`` when unset) is free on 127.0.0.1.

    Flower, started on a port in use, died with a traceback, and honcho stopped every other
    process of `make run` with it; an optional dashboard is better left out, with a word."""
    parser = argparse.ArgumentParser(prog="python -m config.ports")
    parser.add_argument("--for", dest="what", default="the server", help="what would listen")
    parser.add_argument("variable", help="the environment variable holding the port")
    parser.add_argument("default", help="the port when the variable is unset or empty")
    args = parser.parse_args(argv)
    text = os.environ.get(args.variable) or args.default
    port = int(text) if text.isascii() and text.isdigit() else 0
    if not 0 < port < 65536:
        return _not_started(
            args.what, f"{args.variable} must be a port number (1-65535), not {text!r}."
        )
    error = bind_error("127.0.0.1", port)
    if error is not None:
        return _not_started(
            args.what,
            f"cannot listen on 127.0.0.1:{port} ({error.strerror or error}); set "
            f"{args.variable} to a free port.",
        )
    return 0


def _not_started(what: str, why: str) -> int:
    print(f"sumflow: {what} not started: {why}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
