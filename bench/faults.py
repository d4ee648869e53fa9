"""The Telegram PostgreSQL-outage fault at scale: `complaintbot run` against the Bot API
stand-in and a PostgreSQL cluster of its own, which is stopped three times for a few
seconds while people write.

    python -m bench.faults [MESSAGES] [PEOPLE] [OUTAGES]

Defaults: 1,000 messages from 50 people, 3 outages of 3 seconds. Prints sent, stored,
answered (messages that got their reply), duplicated (rows or replies twice), and
the longest wait after an outage ended until everything sent during it was stored,
handled and its replies sent.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import tempfile
import time
from pathlib import Path

from channels.telegram import intake
from storage import migrate
from storage.database import create_engine
from storage.models import Message, OutboxItem, RawUpdate
from tests.support.postgres import PostgresCluster
from tests.support.telegram_api import FakeBotApi, FakeUser
from tests.support.telegram_run import running_telegram, stored_rows, telegram_settings
from tests.support.waiting import eventually

OUTAGE_SECONDS = 3.0
NOTED = "Noted. Add more if you like"
GREETING = "Hello! This is the complaint service."


async def main(messages: int, people: int, outages: int) -> None:
    intake.RETRY_CAP = 1.0  # the bench's seconds: intake tries the database every second
    server = PostgresCluster()
    await asyncio.to_thread(server.start)
    try:
        await server.create_database("faults")
        url = server.url("faults")
        engine = create_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        with tempfile.TemporaryDirectory() as directory:
            async with FakeBotApi() as api:
                settings = telegram_settings(
                    api, url, Path(directory), INBOUND_MESSAGES_PER_MINUTE=0
                )
                async with running_telegram(api, settings):
                    figures = await _traffic(api, server, url, messages, people, outages)
    finally:
        await asyncio.to_thread(server.stop)
    sent, stored, answered, duplicated, waits = figures
    print(f"sent {sent}, stored {stored}, answered {answered}, duplicated {duplicated}")
    print(
        f"{outages} outages of {OUTAGE_SECONDS:.0f} s; longest wait after an outage ended "
        f"until all was stored and answered: {max(waits, default=0):.1f} s "
        f"(each: {', '.join(f'{w:.1f} s' for w in waits)})"
    )


async def _traffic(
    api: FakeBotApi, server: PostgresCluster, url: str, messages: int, people: int, outages: int
) -> tuple[int, int, int, int, list[float]]:
    users = [api.user(20_000 + n, f"Person {n}", "en") for n in range(people)]
    chunks = 2 * outages + 1  # calm, outage, calm, ..., calm
    sent = 0
    waits: list[float] = []
    for chunk in range(chunks):
        count = messages * (chunk + 1) // chunks - messages * chunk // chunks
        down = chunk % 2 == 1
        if down:
            await asyncio.to_thread(server.pause)
        sent = await _send(users, sent, count)
        if down:
            await asyncio.sleep(OUTAGE_SECONDS)  # the outage's length
            await asyncio.to_thread(server.resume)
        ended = time.monotonic()
        await eventually(functools.partial(_caught_up, url, sent), within=300)
        if down:
            waits.append(time.monotonic() - ended)
    stored = await stored_rows(url, Message, Message.direction == "in")
    # In this flow every message is answered "Noted. ...", the first also greeted.
    wrote = [len(range(n, sent, len(users))) for n in range(len(users))]
    noted = [sum(t.startswith(NOTED) for t in user.texts()) for user in users]
    greeted = [sum(t.startswith(GREETING) for t in user.texts()) for user in users]
    answered = sum(min(n, w) for n, w in zip(noted, wrote, strict=True))
    extra = sum(max(0, n - w) for n, w in zip(noted, wrote, strict=True))
    extra += sum(max(0, g - 1) for g in greeted)
    duplicated = len(stored) - len({m.transport_id for m in stored}) + extra
    return sent, len(stored), answered, duplicated, waits


async def _send(users: list[FakeUser], sent: int, count: int) -> int:
    for n in range(sent, sent + count):
        await users[n % len(users)].send_text(f"Message {n} of the fault bench")
    return sent + count


async def _caught_up(url: str, sent: int) -> bool:
    try:
        raw = await stored_rows(url, RawUpdate)
        outbox = await stored_rows(url, OutboxItem)
    except Exception:  # the database is still coming back
        return False
    handled = len(raw) == sent and all(r.state == "handled" for r in raw)
    return handled and all(r.status in ("sent", "failed") for r in outbox)


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:4]]
    asyncio.run(main(*arguments, *(1000, 50, 3)[len(arguments) :]))
