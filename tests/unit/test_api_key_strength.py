"""A short API key can be guessed: the API says so when it starts, without refusing to start."""

from __future__ import annotations

import logging

import pytest

from api import create_app
from api.auth import MIN_KEY_LENGTH

UNREACHABLE = "redis://127.0.0.1:1/0"  # starting the app needs no Redis


def started_with(keys: tuple[str, ...], caplog: pytest.LogCaptureFixture) -> list[str]:
    with caplog.at_level(logging.WARNING, logger="api.auth"):
        create_app({"redis_url": UNREACHABLE, "api_keys": keys})
    return [r.getMessage() for r in caplog.records if r.name == "api.auth"]


def test_a_short_key_is_named_by_its_place_and_length_never_by_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    long_enough = "x" * MIN_KEY_LENGTH
    messages = started_with((long_enough, "k3y-s3cr3t", long_enough + "y"), caplog)
    assert messages == [
        "API_KEYS: key 2 of 3 is 10 characters long, short enough to be guessed: use keys of "
        "at least 16 random characters, such as those of `python -c 'import secrets; "
        "print(secrets.token_urlsafe(32))'`."
    ]
    assert "k3y-s3cr3t" not in caplog.text


def test_keys_of_16_characters_or_more_start_quietly(caplog: pytest.LogCaptureFixture) -> None:
    assert MIN_KEY_LENGTH == 16
    assert started_with(("a" * 16, "b" * 64), caplog) == []
