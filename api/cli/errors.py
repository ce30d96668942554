"""Exit codes scripts can rely on, and the errors that carry them to one line on stderr."""

from __future__ import annotations

from enum import IntEnum
from typing import IO, Any

import click

__all__ = [
    "ApiRefused",
    "ApiUnavailable",
    "CliError",
    "ExitCode",
    "Interrupted",
    "ReaderGone",
    "TaskFailed",
    "UsageProblem",
]


class ExitCode(IntEnum):
    OK = 0
    #: The task, a member of the batch, or (with ``health --strict``) the system is not well.
    TASK_FAILED = 1
    #: Bad arguments or a bad input file (click's own usage errors exit 2 as well).
    USAGE = 2
    #: The API refused the request (4xx): invalid input, unknown id, name in use, no access.
    REFUSED = 3
    #: The API is unavailable: it answered 5xx, or could not be reached at all.
    UNAVAILABLE = 4
    #: Ctrl-C; work already sent goes on in the service.
    INTERRUPTED = 130
    #: Whoever read stdout stopped early (``| head``): 128 + SIGPIPE, as 130 is 128 + SIGINT.
    READER_GONE = 141


class CliError(click.ClickException):
    """An error shown as one line, ``sumflow: <message>``, exiting with ``exit_code``."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # one line, whatever the server sent

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"sumflow: {self.format_message()}", err=file is None, file=file)


class UsageProblem(CliError):
    exit_code = ExitCode.USAGE


class TaskFailed(CliError):
    exit_code = ExitCode.TASK_FAILED


class ApiRefused(CliError):
    exit_code = ExitCode.REFUSED

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ApiUnavailable(CliError):
    exit_code = ExitCode.UNAVAILABLE


class Interrupted(CliError):
    exit_code = ExitCode.INTERRUPTED


class ReaderGone(CliError):
    """Nothing to say: the reader closed the pipe on purpose, and there is no one to tell."""

    exit_code = ExitCode.READER_GONE

    def __init__(self) -> None:
        super().__init__("stdout's reader has gone")

    def show(self, file: IO[Any] | None = None) -> None:
        pass
