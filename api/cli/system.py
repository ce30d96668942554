"""Commands that look at the service itself: health, queues, retry-policies."""

from __future__ import annotations

import click

from api.cli.errors import TaskFailed
from api.cli.outputs import health_lines, policies_table, queues_table
from api.cli.session import Session, json_option, pass_session

__all__ = ["health", "queues", "retry_policies"]


@click.command()
@click.option(
    "--strict", is_flag=True, help="Exit 1 when degraded (a queue without worker, no beat)."
)
@json_option
@pass_session
def health(session: Session, strict: bool) -> None:
    """Redis, the workers and their queues, the beat. Exit 4 when Redis is down."""
    body = session.client.get("/health")
    session.emit(body, health_lines(body))
    if strict and body.get("degraded"):
        raise TaskFailed("degraded: " + " ".join(body.get("problems", [])))


@click.command()
@json_option
@pass_session
def queues(session: Session) -> None:
    """Every configured queue: messages waiting and the workers consuming it."""
    body = session.client.get("/queues")
    session.emit(body, queues_table(body))


@click.command("retry-policies")
@json_option
@pass_session
def retry_policies(session: Session) -> None:
    """The named retry policies a submission may pick with --retry-policy."""
    body = session.client.get("/retry-policies")
    session.emit(body, policies_table(body))
