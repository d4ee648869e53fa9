"""INBOUND_MESSAGES_PER_MINUTE and INBOUND_BURST reach the bot that `run` builds."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.limits import InboundLimit
from complaintbot.app import open_core
from complaintbot.settings import Settings


@pytest.mark.parametrize(
    ("given", "limit"),
    [
        ({}, InboundLimit(60, 20)),
        ({"INBOUND_MESSAGES_PER_MINUTE": 7, "INBOUND_BURST": 3}, InboundLimit(7, 3)),
    ],
)
async def test_the_inbound_limit_settings_reach_the_bot(
    database_url: str, tmp_path: Path, given: dict[str, int], limit: InboundLimit
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, DATABASE_URL=database_url, DATA_DIR=tmp_path / "data", **given
    )
    async with open_core(settings) as core:
        assert core.bot.config.inbound_limit == limit


@pytest.mark.parametrize(("given", "days"), [({}, None), ({"RETENTION_DAYS": "180"}, 180)])
async def test_retention_days_reach_the_sweep(
    database_url: str, tmp_path: Path, given: dict[str, str], days: int | None
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, DATABASE_URL=database_url, DATA_DIR=tmp_path / "data", **given
    )
    async with open_core(settings) as core:
        if days is None:
            assert core.retention is None  # unset: nothing is ever erased
        else:
            assert core.retention is not None
            assert core.retention.keep == timedelta(days=days)
