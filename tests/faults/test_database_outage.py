"""PostgreSQL stopped while people write on Telegram, then started again: `complaintbot
run` against the Bot API stand-in and a PostgreSQL cluster of this test's own."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels.telegram import intake
from storage.models import Message, RawUpdate
from tests.support.postgres import PostgresCluster
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import running_telegram, stored_rows, telegram_settings
from tests.support.waiting import eventually

WAITING = "Telegram intake is waiting for the database"
WRITERS = 10


async def test_messages_sent_while_postgresql_is_down_are_all_stored_and_answered_once(
    api: FakeBotApi,
    cluster: PostgresCluster,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(intake, "RETRY_CAP", 1.0)  # the test's seconds, not production's
    url = cluster.url("outage")
    settings = telegram_settings(api, url, tmp_path / "data")
    async with running_telegram(api, settings):
        await asyncio.to_thread(cluster.pause)
        people = [api.user(8000 + n, f"Writer {n}", "en") for n in range(WRITERS)]
        sent = [await person.send_text(f"Complaint number {n}") for n, person in enumerate(people)]
        first = sent[0]["update_id"]
        await eventually(lambda: _logged(caplog, WAITING), within=15)
        # Fetched but not stored: Telegram was not told to forget any of them.
        assert all(offset <= first for offset, _at in api.acknowledged)
        assert not any(person.texts() for person in people)

        await asyncio.to_thread(cluster.resume)
        for person in people:
            await person.expect("Add more if you like", since=0, within=30)
        raw = await eventually(lambda: _all_handled(url), within=15)
        stored = await stored_rows(url, Message, Message.direction == "in")

    ids = sorted(str(update["update_id"]) for update in sent)
    answered = [p for p in people if sum("Add more if you like" in t for t in p.texts()) == 1]
    duplicated = len(stored) - len({m.transport_id for m in stored})
    # The figures: sent 10, stored 10, answered 10, duplicated 0.
    assert (len(sent), len(stored), len(answered), duplicated) == (WRITERS, WRITERS, WRITERS, 0)
    assert sorted(m.transport_id for m in stored) == ids
    assert sorted(row.update_key for row in raw) == ids
    # Telegram forgot an update only after it was stored.
    stored_at = {int(row.update_key): row.received_at for row in raw}
    for offset, at in api.acknowledged:
        when = datetime.fromtimestamp(at, UTC)
        assert all(stored_at[i] <= when for i in stored_at if i < offset)
    waiting = [r for r in caplog.records if WAITING in r.getMessage()]
    assert [r.levelname for r in waiting] == ["WARNING"]  # said once
    assert any("the database is back" in r.getMessage() for r in caplog.records)


async def _all_handled(url: str) -> list[RawUpdate]:
    rows = await stored_rows(url, RawUpdate)
    return rows if len(rows) == WRITERS and all(r.state == "handled" for r in rows) else []


async def _logged(caplog: pytest.LogCaptureFixture, fragment: str) -> bool:
    return any(fragment in record.getMessage() for record in caplog.records)
