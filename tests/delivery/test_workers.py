"""Two dispatching workers on one database (two processes' worth: each its own outbox
hold and connections) against the Bot API stand-in enforcing Telegram's limits in real
time.

- SQLite: one holds the outbox and sends; when it stops, the other takes over at once
  and counts what the first sent in the last minute against its budgets (the chats the
  first had just given their burst of 3 wait their second).
- PostgreSQL: both send at once, taking from the budgets in the database; when one
  stops, the other sends the rest.

Either way everything arrives once, in order, and Telegram never answers 429.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.messages import Outbound
from bot.ports import SystemClock
from channels.telegram import CHANNEL
from channels.telegram.application import TelegramChannel
from channels.telegram.pacing import telegram_pacing
from delivery.dispatcher import Dispatcher
from delivery.sending import Sent
from storage.database import create_engine
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from storage.send_budget import SqlSendBudget
from tests.support.telegram_api import FakeBotApi
from tests.support.waiting import eventually


class Counting:
    """The channel, counting what this worker sent."""

    def __init__(self, channel: TelegramChannel) -> None:
        self.channel, self.sent = channel, 0

    async def send(self, outbound: Outbound) -> Sent:
        sent = await self.channel.send(outbound)
        self.sent += 1
        return sent


async def test_two_workers_share_one_budget_and_take_over_from_each_other(
    api: FakeBotApi,
    channel: TelegramChannel,
    engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    clock = SystemClock()
    # Slack for the time a request takes from the sender's clock to Telegram's (50 ms:
    # a loaded 2-CPU machine's jitter); pacing errors are whole sends early, not that.
    limits = api.enforce_limits(tolerance=0.05)
    users = [api.user(8000 + n, f"User {n}") for n in range(8)]
    repository = SqlRepository(engine, tmp_path / "data", clock)
    async with repository.conversation(CHANNEL, "queue", "test") as tx:
        for user in users:
            for n in range(8):
                outbound = Outbound(CHANNEL, str(user.id), f"{n} to {user.id}")
                await tx.enqueue(outbound, "reply", clock.now())

    senders = [Counting(channel), Counting(channel)]
    postgres = engine.dialect.name == "postgresql"
    # Each worker its own connections (as in two processes), one database.
    engines = [create_engine(engine.url.render_as_string(hide_password=False)) for _ in senders]
    budgets = [
        SqlSendBudget(own, {CHANNEL: telegram_pacing()}) if postgres else None for own in engines
    ]
    workers = [
        Dispatcher(
            SqlOutbox(own, tmp_path / "data"),
            {CHANNEL: sender},
            clock,
            pacing={CHANNEL: telegram_pacing()},
            poll_seconds=0.1,
            linger=1.0,
            budget=budget,
        )
        for sender, budget, own in zip(senders, budgets, engines, strict=True)
    ]
    running = [asyncio.create_task(worker.run()) for worker in workers]
    try:

        async def thirty_sent() -> bool:
            return max(s.sent for s in senders) >= 30

        async def all_arrived() -> bool:
            return sum(len(u.messages) for u in users) == 8 * len(users)

        async def both_sent() -> bool:
            return all(s.sent > 0 for s in senders)

        await eventually(thirty_sent, within=30)
        if postgres:  # both send at once (a loaded machine may start one a little later)
            await eventually(both_sent, within=10)
        # One stops (on SQLite: the one holding the outbox); the other carries on.
        first = 0 if senders[0].sent >= 30 else 1
        workers[first].stop()
        await running[first]
        await eventually(all_arrived, within=60)
    finally:
        for worker in workers:
            worker.stop()
        await asyncio.gather(*running, return_exceptions=True)
        for own in engines:
            await own.dispose()

    refused = {chat for _when, chat, _limit in limits.refused}
    assert api.too_many == 0, (limits.refused, [s for s in limits.sent if s[1] in refused])
    assert all(sender.sent > 0 for sender in senders)
    for user in users:  # each once, in order
        assert [m["text"] for m in user.messages] == [f"{n} to {user.id}" for n in range(8)]
