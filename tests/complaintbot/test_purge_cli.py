"""`complaintbot privacy purge`: --dry-run lists what RETENTION_DAYS would erase and
changes nothing, --yes erases it now; one sentence when retention is off or neither is
given. In-process with the injected clock, as test_cli_clock runs the CLI."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.router import ComplaintBot
from complaintbot.cli import main
from storage.models import Case
from storage.outbox import SqlOutbox
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import Chat
from tests.support.clock import FakeClock


async def _purge(clock: FakeClock, env: dict[str, str], *args: str) -> Result:
    # In a thread: the command runs its own event loop.
    return await asyncio.to_thread(
        CliRunner().invoke, main, ["privacy", "purge", *args], obj=clock, env=env
    )


async def _name(engine: AsyncEngine, case_no: str) -> str | None:
    async with AsyncSession(engine) as session:
        return await session.scalar(select(Case.contact_name).where(Case.case_no == case_no))  # type: ignore[arg-type]


async def test_purge_lists_then_erases_cases_past_retention(
    bot: ComplaintBot,
    outbox: SqlOutbox,
    clock: FakeClock,
    engine: AsyncEngine,
    database_url: str,
    tmp_path: Path,
) -> None:
    receipt = await play(Chat(bot, outbox, clock), ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    archived = clock.now()
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            update(Case)
            .where(Case.case_no == case_no)  # type: ignore[arg-type]
            .values(status="archived", archived_at=archived)
        )
    clock.advance(days=31)
    base = {"DATABASE_URL": database_url, "DATA_DIR": str(tmp_path / "data")}
    env = {**base, "DEFAULT_LOCALE": "en", "RETENTION_DAYS": "30"}

    off = await _purge(clock, {**base, "DEFAULT_LOCALE": "en"}, "--dry-run")
    assert off.exit_code == 1
    assert "Retention is off: set RETENTION_DAYS" in off.output
    neither = await _purge(clock, env)
    assert neither.exit_code == 1
    assert "Say --dry-run to list what would be erased, or --yes" in neither.output

    listed = await _purge(clock, env, "--dry-run")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines() == [
        f"{case_no}  archived {archived.date().isoformat()}",
        "1 case would lose its personal data; nothing was changed.",
    ]
    assert "Alice" not in listed.stdout
    assert await _name(engine, case_no) == "Alice Wang"

    erased = await _purge(clock, env, "--yes")
    assert erased.exit_code == 0, erased.output
    assert f"Personal data erased from 1 case: {case_no}." in erased.stdout
    assert await _name(engine, case_no) == "[erased]"
    again = await _purge(clock, env, "--dry-run")
    assert "0 cases would lose their personal data" in again.stdout

    zh = await _purge(clock, {**env, "DEFAULT_LOCALE": "zh_CN"})
    assert zh.exit_code == 1
    assert "请加 --dry-run 列出将被删除的内容，或加 --yes 立即删除。" in zh.output
