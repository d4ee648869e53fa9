"""SQLite write-locked by another process while people write on Telegram: `complaintbot
run` against the Bot API stand-in waits out the lock (shorter than its 30 s busy
timeout) and then stores and answers everything, once."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from storage import migrate
from storage.database import create_engine
from storage.models import Message, RawUpdate
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import running_telegram, stored_rows, telegram_settings
from tests.support.waiting import eventually

WRITERS = 8
LOCKED_FOR = 3.0  # seconds the other process holds the write lock: the fault's length

# Another process takes SQLite's write lock, says so, and keeps it until told to let go.
HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
print("released", flush=True)
"""


async def test_messages_sent_while_sqlite_is_locked_are_stored_and_answered_once(
    api: FakeBotApi, tmp_path: Path
) -> None:
    path = tmp_path / "complaintbot.db"
    url = f"sqlite+aiosqlite:///{path}"
    engine = create_engine(url)
    await migrate.upgrade(engine)
    await engine.dispose()
    settings = telegram_settings(api, url, tmp_path / "data")
    async with running_telegram(api, settings):
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            HOLDER,
            str(path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert holder.stdin is not None and holder.stdout is not None
        try:
            assert await asyncio.wait_for(holder.stdout.readline(), 15) == b"locked\n"
            people = [api.user(8100 + n, f"Locked {n}", "en") for n in range(WRITERS)]
            sent = [await p.send_text(f"Complaint number {n}") for n, p in enumerate(people)]
            # The bot's pending long poll hands it the updates at once; the lock's length:
            await asyncio.sleep(LOCKED_FOR)
            # Nothing can be stored while the lock is held: nobody was answered, and
            # Telegram was not told to forget any of the updates.
            assert not any(person.texts() for person in people)
            assert all(offset <= sent[0]["update_id"] for offset, _at in api.acknowledged)
            holder.stdin.write(b"go\n")
            await holder.stdin.drain()
            assert await asyncio.wait_for(holder.stdout.readline(), 15) == b"released\n"
        finally:
            if holder.returncode is None:
                holder.stdin.close()
                await asyncio.wait_for(holder.wait(), 15)

        for person in people:
            await person.expect("Add more if you like", since=0, within=30)
        raw = await eventually(lambda: _all_handled(url), within=15)
        stored = await stored_rows(url, Message, Message.direction == "in")

    ids = sorted(str(update["update_id"]) for update in sent)
    answered = [p for p in people if sum("Add more if you like" in t for t in p.texts()) == 1]
    duplicated = len(stored) - len({m.transport_id for m in stored})
    # The figures: sent 8, stored 8, answered 8 (each once), duplicated 0.
    assert (len(sent), len(stored), len(answered), duplicated) == (WRITERS, WRITERS, WRITERS, 0)
    assert sorted(m.transport_id for m in stored) == ids
    assert sorted(row.update_key for row in raw) == ids


async def _all_handled(url: str) -> list[RawUpdate]:
    rows = await stored_rows(url, RawUpdate)
    return rows if len(rows) == WRITERS and all(r.state == "handled" for r in rows) else []
