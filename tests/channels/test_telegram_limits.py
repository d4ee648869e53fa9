"""The inbound limit through the real Telegram channel: a flooder is told once, and a
person writing at the same time is answered as usual."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from complaintbot.settings import Settings
from storage.database import create_engine
from storage.models import Message
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import running_telegram, telegram_settings
from tests.support.waiting import eventually

NOTICE = "You are sending messages faster than we can read them"
ANSWER = "Add more if you like"


@pytest.fixture
async def running(api: FakeBotApi, database_url: str, tmp_path: Path) -> AsyncIterator[Settings]:
    # One message a minute after a burst of three: the real clock cannot refill a token
    # while the test runs, so what is over the limit does not depend on the machine's speed.
    settings = telegram_settings(
        api, database_url, tmp_path / "data", INBOUND_MESSAGES_PER_MINUTE=1, INBOUND_BURST=3
    )
    async with running_telegram(api, settings):
        yield settings


async def test_one_flooder_gets_one_notice_and_slows_nobody(
    api: FakeBotApi, running: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    flo = api.user(7001, "Florentina Quux", "en")
    ann = api.user(7002, "Annabel Quux", "en")
    for n in range(10):
        await flo.send_text(f"my meter reads {n} kWh too much")
    mark = len(ann.messages)
    await ann.send_text("My parcel never came")
    assert ANSWER in await ann.expect(ANSWER, since=mark)

    async def all_stored() -> bool:
        engine = create_engine(running.DATABASE_URL)
        try:
            async with AsyncSession(engine) as session:
                rows = await session.scalars(select(Message).where(Message.direction == "in"))
                return len(rows.all()) == 11
        finally:
            await engine.dispose()

    await eventually(all_stored)
    await flo.expect(NOTICE, since=0)
    await api.wait_until(lambda: sum(ANSWER in text for text in flo.texts()) == 3)
    assert sum(NOTICE in text for text in flo.texts()) == 1
    assert sum(ANSWER in text for text in flo.texts()) == 3
    assert not any(NOTICE in text for text in ann.texts())
    # The log names updates and chats, never people or what they wrote.
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert "over the inbound limit" in logged
    for personal in ("Quux", "Florentina", "kWh", "parcel"):
        assert personal not in logged
