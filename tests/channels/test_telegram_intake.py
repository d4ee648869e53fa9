"""Telegram intake across a restart and a redelivery: an update stored raw but not yet
handled when the process stopped is handled at the next start; one Telegram sends again
changes nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from complaintbot.app import run
from complaintbot.settings import Settings
from storage.database import create_engine
from storage.models import Message, RawUpdate
from storage.raw_updates import SqlRawUpdates
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import running_telegram, stored_rows, telegram_settings
from tests.support.waiting import eventually

ANSWER = "Add more if you like"


def _settings(api: FakeBotApi, database_url: str, tmp_path: Path) -> Settings:
    return telegram_settings(api, database_url, tmp_path / "data")


@pytest.fixture
async def running(api: FakeBotApi, database_url: str, tmp_path: Path) -> AsyncIterator[Settings]:
    settings = _settings(api, database_url, tmp_path)
    async with running_telegram(api, settings):
        yield settings


async def _rows(settings: Settings, model: type) -> list:
    return await stored_rows(settings.DATABASE_URL, model)


async def test_an_update_stored_before_a_crash_is_handled_at_the_next_start(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    # The last run stored this update (and so let Telegram forget it), then died.
    hana = api.user(6101, "Hana", "en")
    update = {
        "update_id": 900,
        "message": {
            "message_id": 1,
            "date": int(time.time()),
            "chat": hana.chat,
            "from": hana.sender,
            "text": "My parcel never arrived",
        },
    }
    engine = create_engine(database_url)
    try:
        assert await SqlRawUpdates(engine).keep("telegram", [("900", update)]) == ["900"]
    finally:
        await engine.dispose()

    settings = _settings(api, database_url, tmp_path)
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    try:
        await hana.expect(ANSWER, since=0)
        await eventually(lambda: _handled(settings, "900"), within=10)
    finally:
        await api.end_polls()
        stop.set()
        await asyncio.wait_for(task, 30)
    inbound = [m for m in await _rows(settings, Message) if m.direction == "in"]
    assert [(m.transport_id, m.text) for m in inbound] == [("900", "My parcel never arrived")]
    assert sum(ANSWER in text for text in hana.texts()) == 1


async def test_an_update_telegram_sends_again_changes_nothing(
    api: FakeBotApi, running: Settings
) -> None:
    ivan = api.user(6102, "Ivan", "en")
    update = await ivan.send_text("The bus never came")
    await ivan.expect(ANSWER, since=0)
    await eventually(lambda: _handled(running, str(update["update_id"])), within=10)
    acknowledged = len(api.acknowledged)

    await api.redeliver(update)
    await api.wait_until(lambda: len(api.acknowledged) > acknowledged)

    (row,) = await _rows(running, RawUpdate)
    assert (row.update_key, row.state) == (str(update["update_id"]), "handled")
    inbound = [m for m in await _rows(running, Message) if m.direction == "in"]
    assert [m.transport_id for m in inbound] == [str(update["update_id"])]
    assert sum(ANSWER in text for text in ivan.texts()) == 1


async def _handled(settings: Settings, key: str) -> bool:
    rows = await _rows(settings, RawUpdate)
    return any(row.update_key == key and row.state == "handled" for row in rows)
