"""What every command shares: the API client, the output mode and the two consoles."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click
from rich.console import RenderableType
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from api.cli.client import ApiClient
from api.cli.errors import Interrupted
from api.cli.follow import ProgressCallback
from api.cli.pipes import PipeConsole

__all__ = ["Session", "json_option", "pass_session"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Session:
    client: ApiClient
    json: bool = False
    out: PipeConsole = field(default_factory=PipeConsole)
    err: PipeConsole = field(default_factory=lambda: PipeConsole(stderr=True))

    def emit(self, body: Any, text: RenderableType | list[str] | str | None = None) -> None:
        """Print ``body`` as one line of JSON with ``--json``, else ``text`` for people."""
        if self.json:
            click.echo(json.dumps(body))
        elif isinstance(text, list):
            for line in text:
                click.echo(line)
        elif isinstance(text, str):
            click.echo(text)
        elif text is not None:
            self.out.print(text)

    def note(self, message: str) -> None:
        """A line for the person at the terminal, on stderr so stdout stays machine-readable."""
        click.echo(message, err=True)

    @contextmanager
    def progress(self, description: str) -> Iterator[ProgressCallback]:
        """A live progress bar on stderr (only on a terminal); yields the update callback."""
        bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.err,
            disable=not self.err.is_terminal,
        )
        task = bar.add_task(description, total=None, failed=0)

        def update(done: int, total: int, failed: int) -> None:
            bar.update(task, completed=done, total=total, failed=failed)

        with bar:
            yield update

    @contextmanager
    def interruptible(self, what: str) -> Iterator[None]:
        """Ctrl-C stops waiting, not the work: say how to pick it up again."""
        try:
            yield
        except KeyboardInterrupt:
            raise Interrupted(f"stopped waiting; {what}") from None


pass_session = click.make_pass_decorator(Session)


def _set_json(ctx: click.Context, _: click.Parameter, value: bool) -> None:
    session = ctx.find_object(Session)
    if value and session is not None:
        session.json = True


def json_option(command: F) -> F:
    """``--json`` after the command name too (``sumflow queues --json``)."""
    return click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        callback=_set_json,
        help="Print the API's JSON answer instead of text.",
    )(command)
