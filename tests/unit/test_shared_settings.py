"""How long a worker's published settings outlive it (workflows.shared_settings)."""

from __future__ import annotations

from config import load_settings
from workflows.shared_settings import entry_ttl


def test_an_entry_lasts_the_visibility_timeout_at_most_ten_minutes() -> None:
    assert entry_ttl(load_settings({"VISIBILITY_TIMEOUT_SECONDS": "20"})) == 20
    assert entry_ttl(load_settings({})) == 600
    assert entry_ttl(load_settings({"VISIBILITY_TIMEOUT_SECONDS": "3600"})) == 600
