"""An update python-telegram-bot cannot decode, between two good ones, through
`complaintbot run` against the Bot API stand-in: raw first, parse second."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from complaintbot.settings import Settings
from storage.models import Message, RawUpdate
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import running_telegram, stored_rows, telegram_settings
from tests.support.waiting import eventually

# A poll without its required fields: `Update.de_json` raises TypeError on it.
POISON = {"poll": {"id": "poll-1", "question": "Ли Мин +8613800000000"}}


@pytest.fixture
async def running(api: FakeBotApi, database_url: str, tmp_path: Path) -> AsyncIterator[Settings]:
    settings = telegram_settings(api, database_url, tmp_path / "data")
    async with running_telegram(api, settings):
        yield settings


async def _rows(settings: Settings, model: type) -> list:
    return await stored_rows(settings.DATABASE_URL, model)


async def test_an_undecodable_update_is_kept_raw_logged_once_and_the_next_ones_flow(
    api: FakeBotApi, running: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    before, after = api.user(6001, "Ли Мин", "en"), api.user(6002, "Olga Petrova", "en")
    first = await before.send_text("My broadband was cut off without notice")
    poison = await api.push(dict(POISON))
    second = await after.send_text("The shop kept my deposit of 300 yuan")

    # Sent 3 (2 good, 1 undecodable); both good ones answered once each.
    await before.expect("Add more if you like", since=0)
    await after.expect("Add more if you like", since=0)
    raw = await eventually(lambda: _settled(running, 3), within=10)
    states = {row.update_key: row.state for row in raw}
    assert states == {
        str(first["update_id"]): "handled",
        str(poison["update_id"]): "undecodable",
        str(second["update_id"]): "handled",
    }
    kept = next(row for row in raw if row.state == "undecodable")
    assert kept.payload == {**POISON, "update_id": poison["update_id"]}
    inbound = [m for m in await _rows(running, Message) if m.direction == "in"]
    assert sorted(m.transport_id for m in inbound) == sorted(
        [str(first["update_id"]), str(second["update_id"])]
    )
    for person in (before, after):  # answered once, in one message (greeting and question)
        (answer,) = person.texts()
        assert answer.startswith("Hello!") and "\n\nNoted. Add more if you like" in answer
    # The next poll acknowledged all three: nothing is asked for again.
    await api.wait_until(
        lambda: int(api.calls_of("getUpdates")[-1].get("offset") or 0) == second["update_id"] + 1
    )

    about_poison = [r for r in caplog.records if f"update {poison['update_id']}" in r.getMessage()]
    assert [(r.levelname, r.getMessage()) for r in about_poison] == [
        (
            "WARNING",
            f"Telegram update {poison['update_id']} cannot be read (TypeError): "
            "kept raw and skipped",
        )
    ]
    private = ("Ли Мин", "Olga", "broadband", "deposit", "+8613800000000")
    leaked = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.INFO and any(word in r.getMessage() for word in private)
    ]
    assert leaked == []


async def _settled(settings: Settings, count: int) -> list[RawUpdate]:
    rows = await _rows(settings, RawUpdate)
    done = [row for row in rows if row.state != "stored"]
    return rows if len(done) == count else []
