"""The command line takes its time from the clock it is given, not the machine's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner

from bot.router import ComplaintBot
from complaintbot.cli import main
from storage.outbox import SqlOutbox
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import Chat
from tests.support.clock import FakeClock


async def test_privacy_export_is_dated_by_the_injected_clock(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, database_url: str, tmp_path: Path
) -> None:
    await play(Chat(bot, outbox, clock), ENGLISH_INTAKE)
    clock.advance(days=40, hours=3)
    env = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data")}
    # In a thread: the command runs its own event loop.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["privacy", "export", "--contact", "alice@example.com"],
        obj=clock,
        env=env,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["exported_at"] == clock.now().isoformat()
