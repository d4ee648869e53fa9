"""The Bot API failing sendMessage (502, 500, 429 with retry_after, dropped connections)
while several people write to `complaintbot run`: every reply arrives exactly once, and
each chat gets its replies in the order the bot decided them.

tests/channels/test_telegram_pacing.py drives the dispatcher alone with one message per
chat; this runs the whole bot, with several replies per chat."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from complaintbot import worker
from delivery.dispatcher import Dispatcher
from storage import migrate
from storage.database import create_engine
from storage.models import Message, OutboxItem
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import running_telegram, stored_rows, telegram_settings
from tests.support.waiting import eventually

WRITERS = 5
EACH = 3


async def test_every_reply_arrives_once_and_in_order_despite_bot_api_failures(
    api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test's seconds, not production's: a retry's backoff and the idle poll are short.
    quick = functools.partial(Dispatcher, jitter=lambda low, high: 0.1, poll_seconds=0.1)
    monkeypatch.setattr(worker, "Dispatcher", quick)
    url = f"sqlite+aiosqlite:///{tmp_path / 'complaintbot.db'}"
    engine = create_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    for code, description in [(502, "Bad Gateway"), (500, "Internal Server Error")] * 2:
        api.fail_next("sendMessage", code, description)
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    api.drop_next("sendMessage", times=2)
    failures = 4 + 1 + 2

    settings = telegram_settings(api, url, tmp_path / "data")
    async with running_telegram(api, settings):
        people = [api.user(8200 + n, f"Caller {n}", "en") for n in range(WRITERS)]
        sent = [
            await person.send_text(f"Complaint {n}, part {part}")
            for part in range(EACH)
            for n, person in enumerate(people)
        ]
        rows = await eventually(lambda: _all_settled(url, len(sent)), within=30)
        stored = await stored_rows(url, Message, Message.direction == "in")

    for person in people:
        decided = [r.payload["text"] for r in rows if r.conversation == str(person.id)]
        assert decided  # every writer was answered
        assert person.texts() == decided  # each reply once, in the order decided
    assert {r.status for r in rows} == {"sent"}
    assert sum(r.attempts for r in rows) == len(rows) + failures
    answered = sum(bool(person.texts()) for person in people)
    duplicated = len(stored) - len({m.transport_id for m in stored})
    # The figures: sent 15, stored 15, answered 5 of 5 (every reply once), duplicated 0.
    assert (len(sent), len(stored), answered, duplicated) == (15, 15, WRITERS, 0)


async def _all_settled(url: str, inbound: int) -> list[OutboxItem]:
    if len(await stored_rows(url, Message, Message.direction == "in")) < inbound:
        return []
    rows = sorted(await stored_rows(url, OutboxItem), key=lambda r: r.id or 0)
    return rows if rows and all(r.status in ("sent", "failed") for r in rows) else []
