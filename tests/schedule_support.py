"""Helpers for schedule tests: the API steps as one-liners, and real beat processes."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from tests.conftest import TEST_ADD_DELAY
from tests.support import ROOT, Service, beat_command, eventually, service_env

_beats = itertools.count(1)
_markers = itertools.count(1)

#: What RedBeat logs once a beat holds the lock and starts scheduling.
ACQUIRED = "beat: Acquired lock"
#: What a beat logs once when it finds the lock held by another beat.
STANDING_BY = "beat: the lock is held elsewhere; standing by"


def start_beat(
    redis_url: str,
    logs_dir: Path,
    *,
    wait: bool = True,
    scheduler: str | None = "redbeat.RedBeatScheduler",
    cwd: Path = ROOT,
    **env: Any,
) -> Service:
    """Start ``celery -A workflows beat -S redbeat.RedBeatScheduler`` (without ``-S`` if
    ``scheduler`` is None) in ``cwd``; with ``wait``, return once it holds RedBeat's lock (it
    schedules from then on)."""
    env.setdefault("ADD_DELAY_SECONDS", TEST_ADD_DELAY)
    beat = Service(
        beat_command(scheduler=scheduler),
        service_env(redis_url, **env),
        logs_dir / f"beat{next(_beats)}.log",
        cwd=cwd,
    ).start()
    if wait:
        beat.ready_when(lambda: ACQUIRED in beat.log(), "the beat to take the lock")
    return beat


def sent_count(beat: Service, name: str) -> int:
    """How many runs of schedule ``name`` this beat has sent, from its own log."""
    return beat.log().count(f"Sending due task {name} (")


@contextmanager
def beat_ticks(schedules: Schedules, beat: Service) -> Iterator[Callable[[int], None]]:
    """Count the ticks ``beat`` runs from now on, instead of sleeping and hoping it ran some.

    A marker schedule due every second is created on entering; ``ticks(n)`` returns once the
    beat has sent it ``n`` times, and the marker is deleted on leaving. The beat loads every
    due entry at the start of a tick, then sends them one by one in one thread: once the
    marker's first run is in the beat's log, so is every run of a tick that began before the
    marker existed (a run loaded just before a PATCH or DELETE, say); and each later marker
    run, a second or more after the one before, shows the beat kept ticking for as long as
    an entry due every second takes to fall due again. A fixed sleep promises neither on a
    machine busy enough to hold the beat back.
    """
    name = f"tick-marker-{next(_markers)}"
    schedules.create(name, every=1)

    def ticks(count: int, timeout: float = 30) -> None:
        eventually(
            lambda: sent_count(beat, name) >= count,
            timeout=timeout,
            interval=0.1,
            what=f"{count} runs of the marker {name}",
        )

    try:
        yield ticks
    finally:
        schedules.delete(name)
        schedules.names.remove(name)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Schedules:
    """The schedule endpoints as one-liners; deletes what it created when the test ends."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.names: list[str] = []

    def create(self, name: str, a: Any = 2, b: Any = 3, **body: Any) -> dict[str, Any]:
        response = self.client.post("/schedules", json={"name": name, "a": a, "b": b, **body})
        assert response.status_code == 201, response.json
        self.names.append(name)
        return response.json

    def get(self, name: str) -> dict[str, Any]:
        response = self.client.get(f"/schedules/{name}")
        assert response.status_code == 200, response.json
        return response.json

    def patch(self, name: str, **body: Any) -> dict[str, Any]:
        response = self.client.patch(f"/schedules/{name}", json=body)
        assert response.status_code == 200, response.json
        return response.json

    def delete(self, name: str) -> None:
        assert self.client.delete(f"/schedules/{name}").status_code == 204

    def runs(self, name: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/schedules/{name}/runs")
        assert response.status_code == 200, response.json
        return response.json["runs"]

    def finished_runs(self, name: str) -> list[dict[str, Any]]:
        return [run for run in self.runs(name) if run["status"] in ("SUCCESS", "FAILURE")]

    def wait_for_runs(self, name: str, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        """Block until at least ``count`` runs have finished; return all runs, newest first."""
        eventually(
            lambda: len(self.finished_runs(name)) >= count,
            timeout=timeout,
            interval=0.2,
            what=f"{count} finished runs of {name}",
        )
        return self.runs(name)

    def cleanup(self) -> None:
        for name in self.names:
            self.client.delete(f"/schedules/{name}")
        self.names.clear()
