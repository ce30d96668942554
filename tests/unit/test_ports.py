"""`make run` starts Flower only where it can listen (`python -m config.ports`)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from config.ports import main
from config.redis_server import free_port

FLOWER = ["--for", "Flower", "FLOWER_PORT", "5555"]


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_port_in_use_is_told_in_one_line_and_flower_is_left_out(
    busy_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Started anyway, Flower died with a traceback, and honcho stopped the whole `make run`
    with it: a second `make run` on one machine, or anything else on port 5555."""
    monkeypatch.setenv("FLOWER_PORT", str(busy_port))
    assert main(FLOWER) == 1
    assert capsys.readouterr().err == (
        f"sumflow: Flower not started: cannot listen on 127.0.0.1:{busy_port} (Address already"
        " in use); set FLOWER_PORT to a free port.\n"
    )


def test_a_free_port_passes_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLOWER_PORT", str(free_port()))
    assert main(FLOWER) == 0
    monkeypatch.delenv("FLOWER_PORT")
    assert main(["--for", "Flower", "FLOWER_PORT", str(free_port())]) == 0  # the default
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["abc", "0", "70000", "55.5"])
def test_a_port_that_is_no_port_number_is_told(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLOWER_PORT", value)
    assert main(FLOWER) == 1
    assert capsys.readouterr().err == (
        f"sumflow: Flower not started: FLOWER_PORT must be a port number (1-65535), not"
        f" {value!r}.\n"
    )
