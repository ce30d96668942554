"""The `sumflow` command: global options, the command tree, exit codes.

Exit codes: 0 ok; 1 the task (or a member of a batch) failed, or ``health --strict`` found the
system degraded; 2 usage error (bad arguments or input file); 3 the API refused the request
(4xx); 4 the API is unavailable (5xx, or not reachable); 130 interrupted (Ctrl-C); 141 stdout's
reader stopped early (``| head``).
"""

from __future__ import annotations

from typing import Any

import click
import httpx

from api.cli import batches, schedules, system, tasks
from api.cli.client import DEFAULT_URL, ApiClient
from api.cli.errors import Interrupted, UsageProblem
from api.cli.inputs import InputError
from api.cli.params import Seconds
from api.cli.pipes import reader_gone_exits_quietly
from api.cli.session import Session

__all__ = ["cli", "main"]


class SumflowGroup(click.Group):
    """Bad input found while running a command (a CSV line, a JSON policy) is a usage error,
    Ctrl-C exits 130 in one line (click's "Aborted!" exits 1, a failed task's code), and a
    reader that stops early exits 141 without a word (click's answer is 1 too)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        with reader_gone_exits_quietly():  # `sumflow --help` and `--version` print here
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with reader_gone_exits_quietly():  # every command, its --help included
                return super().invoke(ctx)
        except InputError as exc:
            raise UsageProblem(str(exc)) from None
        except KeyboardInterrupt:  # a wait has said more already (Session.interruptible)
            raise Interrupted(
                "interrupted; a request already sent may still have been carried out"
            ) from None


@click.group(cls=SumflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--url",
    envvar="SUMFLOW_URL",
    default=DEFAULT_URL,
    show_default=True,
    show_envvar=True,
    help="Base URL of the sumflow API.",
)
@click.option(
    "--api-key",
    envvar="SUMFLOW_API_KEY",
    show_envvar=True,
    help="Sent as 'Authorization: Bearer KEY'.",
)
@click.option(
    "--timeout",
    type=Seconds(min=0.1, max=3600),
    default=10.0,
    show_default=True,
    help="Seconds to wait for the API to answer (long polls get 30 s more).",
)
@click.option("--json", "json_output", is_flag=True, help="Print the API's JSON answers.")
@click.version_option(package_name="sumflow", prog_name="sumflow")
@click.pass_context
def cli(
    ctx: click.Context, url: str, api_key: str | None, timeout: float, json_output: bool
) -> None:
    """Sum numbers in the background with a sumflow service, from the terminal.

    \b
    Exit codes: 0 ok, 1 task failed (or health --strict: degraded), 2 usage error,
    3 the API refused the input (4xx), 4 the API is unavailable (5xx or unreachable),
    130 interrupted (Ctrl-C; work already sent goes on), 141 stdout's reader stopped early.
    """
    _check_url(url)
    # Tests hand in an httpx transport as ``obj`` to stand in for a server.
    transport = ctx.obj if isinstance(ctx.obj, httpx.BaseTransport) else None
    client = ApiClient(url, api_key, timeout, transport=transport)
    ctx.call_on_close(client.close)
    ctx.obj = Session(client=client, json=json_output)


def _check_url(url: str) -> None:
    """A usage error for a URL httpx cannot use: malformed, it ended in a traceback, and
    without a host it read as an API that could not be reached (exit 4)."""
    if not url.startswith(("http://", "https://")):
        raise UsageProblem(f"--url must start with http:// or https://, got {url!r}")
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL:
        raise UsageProblem(f"--url is not a valid URL: {url!r}") from None
    if not host:
        raise UsageProblem(f"--url names no host: {url!r}")


for command in (
    tasks.add,
    tasks.result,
    tasks.revoke,
    tasks.chain,
    batches.batch,
    batches.chord,
    schedules.schedules,
    system.health,
    system.queues,
    system.retry_policies,
):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point (``[project.scripts]`` in pyproject.toml)."""
    cli(prog_name="sumflow")
