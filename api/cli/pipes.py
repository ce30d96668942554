"""A reader that stops early (``sumflow queues | head -1``) ends the command quietly, exit 141.

Python ignores SIGPIPE, so a write to a pipe whose reader has gone raises BrokenPipeError.
Click turned it into exit 1, which here says a task failed; rich exits 1 itself. Restoring
SIGPIPE's default would end the command as C tools end, but would also kill it on a socket
the API closes mid-request, which must stay exit 4 (Python's signal docs warn of this).
"""

from __future__ import annotations

import errno
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from api.cli.errors import ReaderGone

__all__ = ["PipeConsole", "reader_gone_exits_quietly"]


class PipeConsole(Console):
    """A rich console that leaves a closed pipe to `reader_gone_exits_quietly`: rich's own
    answer is ``SystemExit(1)``."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))


@contextmanager
def reader_gone_exits_quietly() -> Iterator[None]:
    """Turn BrokenPipeError into `ReaderGone`. The HTTP client reports its own broken sockets
    as httpx errors, so one that gets here was a write to stdout or stderr."""
    try:
        yield
    except BrokenPipeError:
        _stdout_to_devnull()
        raise ReaderGone() from None


def _stdout_to_devnull() -> None:
    """What is still buffered would fail again as Python flushes it on exit, and print
    "Exception ignored ... BrokenPipeError": send it nowhere (Python's signal docs)."""
    try:
        stdout = sys.stdout.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):  # not a real file
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stdout)
    os.close(devnull)
