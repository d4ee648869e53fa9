"""The import contracts in pyproject.toml stay whole as the code grows."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
# What storage/ and channels/ may take from bot/: its small interfaces and plain values.
PORTS_AND_VALUES = {
    "bot.ports",
    "bot.domain",
    "bot.messages",
    "bot.file_kinds",
    "bot.notice",
    "bot.draft",
    "bot.referrals",
    "bot.roles",
}


def test_every_module_of_bot_but_its_ports_and_values_is_closed_to_storage_and_channels() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (closed,) = [
        c["forbidden_modules"]
        for c in contracts
        if c["type"] == "forbidden" and set(c["source_modules"]) == {"storage", "channels"}
    ]
    modules = {
        f"bot.{path.stem if path.is_file() else path.name}"
        for path in (ROOT / "bot").iterdir()
        if (path.suffix == ".py" and path.stem != "__init__")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert set(closed) == modules - PORTS_AND_VALUES
