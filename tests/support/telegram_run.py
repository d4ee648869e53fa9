"""`complaintbot run` with Telegram configured against the Bot API stand-in, in the
test's own process, and a look at what it stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from complaintbot.app import run
from complaintbot.settings import Settings
from storage.database import create_engine
from tests.support.telegram_api import UNPACED, FakeBotApi, FakeUser


def telegram_settings(api: FakeBotApi, database_url: str, data_dir: Path, **more: Any) -> Settings:
    """Settings for the stand-in, unpaced unless `more` says otherwise."""
    return Settings(
        DATABASE_URL=database_url,
        DATA_DIR=data_dir,
        TELEGRAM_BOT_TOKEN=api.token,
        **{**UNPACED, **more},
        TELEGRAM_BASE_URL=api.base_url,
        TELEGRAM_BASE_FILE_URL=api.base_file_url,
    )


@asynccontextmanager
async def running_telegram(api: FakeBotApi, settings: Settings) -> AsyncIterator[Settings]:
    """The bot runs from its first getUpdates until the block ends."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    await api.wait_until(lambda: bool(api.calls_of("getUpdates")) or task.done())
    if task.done():
        task.result()
    try:
        yield settings
    finally:
        await api.end_polls()
        stop.set()
        await asyncio.wait_for(task, 30)


async def stored_rows(url: str, model: type, *where: object) -> list[Any]:
    """The rows of `model` (matching `where`) in the database at `url`, as stored now."""
    engine = create_engine(url)
    try:
        async with AsyncSession(engine) as session:
            return list((await session.scalars(select(model).where(*where))).all())
    finally:
        await engine.dispose()


async def step(user: FakeUser, action: str, value: str, expect: str) -> str:
    """One move of a complainant (a text, a button press, a shared contact) and the
    bot's answer that contains `expect`."""
    mark = len(user.messages)
    if action == "press":
        await user.press(value)
    elif action == "contact":
        await user.share_contact(value)
    else:
        await user.send_text(value)
    return await user.expect(expect, since=mark)
