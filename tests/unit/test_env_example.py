"""`.env.example` and the README's table list every setting, and the example shows its default."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from config import load_settings
from config import settings as settings_module

ROOT = Path(__file__).resolve().parents[2]
#: Every variable `load_settings` reads, taken from its source so a new one cannot be missed.
VARIABLES = re.findall(r'_env_\w+\(\s*env,\s*"([A-Z_]+)"', inspect.getsource(settings_module))
EXAMPLE = (ROOT / ".env.example").read_text()
#: The uncommented ``NAME=value`` lines: what a copy of the file to `.env` sets.
EXAMPLE_VALUES = dict(re.findall(r"^([A-Z_]+)=(.*)$", EXAMPLE, flags=re.MULTILINE))


def test_the_settings_are_found() -> None:
    assert {"REDIS_URL", "WEB_THREADS", "MAX_DELIVERIES"} <= set(VARIABLES)


@pytest.mark.parametrize("name", VARIABLES)
def test_every_setting_is_in_the_example_and_the_readme_table(name: str) -> None:
    assert re.search(rf"^(# )?{name}=", EXAMPLE, flags=re.MULTILINE), name
    table_rows = [
        line for line in (ROOT / "README.md").read_text().splitlines() if line[:2] == "| "
    ]
    assert any(f"`{name}`" in row for row in table_rows), name


@pytest.mark.parametrize(("name", "value"), sorted(EXAMPLE_VALUES.items()))
def test_the_example_sets_each_default(name: str, value: str) -> None:
    # Copying the example to .env must change nothing until a value is edited.
    assert load_settings({name: value}) == load_settings({}), f"{name}={value} is not the default"


#: Read by something other than `load_settings`: Flower (under `make run`) and the CLI.
READ_ELSEWHERE = {"FLOWER_PORT", "SUMFLOW_URL", "SUMFLOW_API_KEY"}


def test_every_variable_documented_is_one_that_is_read() -> None:
    # The other way round: a setting removed from the code leaves no row or line behind.
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Configuration\n")[1].split("\n## ")[0]
    rows = [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `")]
    documented = set(re.findall(r"`([A-Z_]+)`", " ".join(rows)))
    in_example = set(re.findall(r"^(?:# )?([A-Z_]+)=", EXAMPLE, flags=re.MULTILINE))
    assert documented and in_example
    assert documented - READ_ELSEWHERE <= set(VARIABLES)
    assert in_example - READ_ELSEWHERE <= set(VARIABLES)
