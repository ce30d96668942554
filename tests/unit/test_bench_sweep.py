"""How `python -m tests.bench.sweep` reads one configuration string."""

from __future__ import annotations

from tests.bench.sweep import _split


def test_a_configuration_splits_into_environment_worker_and_bench_arguments() -> None:
    env, worker_args, bench_args = _split(
        "WEB_WORKERS=4 --prefetch-multiplier 4 web-app=bare WEB_THREADS=2"
    )

    assert env == ["WEB_WORKERS=4", "WEB_THREADS=2"]
    assert worker_args == ["--prefetch-multiplier", "4"]
    assert bench_args == ["--web-app=bare"]


def test_an_empty_configuration_is_the_defaults() -> None:
    assert _split("") == ([], [], [])
