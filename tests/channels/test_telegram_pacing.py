"""The dispatcher against a Bot API stand-in that enforces Telegram's rate limits (30 a
second overall, one a second per private chat with bursts of three, 20 a minute per
group, edits counted like sends).

Time is the test's clock: the dispatcher paces (and the stand-in measures) on it, so a
burst that would take Telegram a minute takes the test none. The clock moves only
while no send is on its way, as real time does not jump during a request.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from telegram.error import RetryAfter

from bot.messages import Outbound
from channels.telegram import CHANNEL
from channels.telegram.application import TelegramChannel
from channels.telegram.pacing import telegram_pacing
from delivery.dispatcher import Dispatcher
from delivery.sending import ChannelPacing, Sent
from storage.models import OutboxItem
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.support.clock import FakeClock
from tests.support.telegram_api import FakeBotApi


class Paced:
    """The channel, counting sends on their way; a pacing sleep moves the test's clock
    only once none is."""

    def __init__(self, channel: TelegramChannel, clock: FakeClock) -> None:
        self.channel, self.clock = channel, clock
        self.sending = 0
        self.idle = asyncio.Event()
        self.idle.set()

    async def send(self, outbound: Outbound) -> Sent:
        self.sending += 1
        self.idle.clear()
        try:
            return await self.channel.send(outbound)
        finally:
            self.sending -= 1
            if not self.sending:
                self.idle.set()

    async def sleep(self, seconds: float) -> None:
        await self.idle.wait()
        await self.clock.sleep(seconds)

    def dispatcher(
        self, engine: AsyncEngine, data: Path, pacing: ChannelPacing | None = None, **options: Any
    ) -> Dispatcher:
        return Dispatcher(
            SqlOutbox(engine, data),
            {CHANNEL: self},
            self.clock,
            pacing={CHANNEL: pacing or telegram_pacing()},
            monotonic=self.clock.monotonic,
            sleep=self.sleep,
            **options,
        )


async def queue(repository: SqlRepository, clock: FakeClock, messages: list[tuple[int, str]]):
    async with repository.conversation(CHANNEL, "queue", "test") as tx:
        for chat_id, text in messages:
            await tx.enqueue(Outbound(CHANNEL, str(chat_id), text), "reply", clock.now())


async def pending(engine: AsyncEngine) -> int:
    async with AsyncSession(engine) as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "pending")
            )
            or 0
        )


async def drain(dispatcher: Dispatcher, engine: AsyncEngine, clock: FakeClock) -> None:
    """Runs passes until the outbox is empty, moving the clock when nothing is due."""
    for _ in range(2000):
        if await dispatcher.run_once() == 0:
            if not await pending(engine):
                return
            clock.advance(seconds=1)
    raise AssertionError("the outbox did not empty")


def delivered(api: FakeBotApi) -> Counter[str]:
    chats = [*api.users.values(), *api.groups.values()]
    return Counter(
        m.get("text", "") for chat in chats for m in chat.messages if m["from"]["is_bot"]
    )


async def test_a_burst_of_hundreds_gets_no_429(
    api: FakeBotApi,
    channel: TelegramChannel,
    repository: SqlRepository,
    engine: AsyncEngine,
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    api.enforce_limits(now=clock.monotonic)
    users = [api.user(5000 + n, f"User {n}") for n in range(240)]
    api.group(-100777, "Agents", forum=False)
    burst = [(u.id, f"survey for {u.id}") for u in users]
    burst += [(users[0].id, f"follow-up {n}") for n in range(8)]  # one chat: 1 a second
    burst += [(-100777, f"desk post {n}") for n in range(24)]  # a group: 20 a minute
    await queue(repository, clock, burst)

    dispatcher = Paced(channel, clock).dispatcher(engine, tmp_path / "data")
    start = clock.monotonic()
    await drain(dispatcher, engine, clock)

    assert api.too_many == 0
    counts = delivered(api)
    assert sorted(counts) == sorted(text for _chat, text in burst)
    assert set(counts.values()) == {1}
    first = [m["text"] for m in users[0].messages]
    assert first == [f"survey for {users[0].id}", *(f"follow-up {n}" for n in range(8))]
    # 272 messages at 30 a second take at least 9 seconds; the group's 24 at 20 a
    # minute take more than a minute.
    assert clock.monotonic() - start >= 60


async def test_failures_are_retried_and_everything_arrives_once(
    api: FakeBotApi,
    channel: TelegramChannel,
    repository: SqlRepository,
    engine: AsyncEngine,
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    api.enforce_limits(now=clock.monotonic)
    users = [api.user(6000 + n, f"User {n}") for n in range(20)]
    await queue(repository, clock, [(u.id, f"resolution for {u.id}") for u in users])
    for code, description in [(502, "Bad Gateway"), (500, "Internal Server Error")] * 2:
        api.fail_next("sendMessage", code, description)
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    api.drop_next("sendMessage", times=2)

    dispatcher = Paced(channel, clock).dispatcher(
        engine, tmp_path / "data", jitter=lambda low, high: high
    )
    await drain(dispatcher, engine, clock)

    counts = delivered(api)
    assert sorted(counts) == sorted(f"resolution for {u.id}" for u in users)
    assert set(counts.values()) == {1}
    assert api.too_many == 0  # only the injected 429
    async with AsyncSession(engine) as session:
        rows = (await session.scalars(select(OutboxItem))).all()
    assert {r.status for r in rows} == {"sent"}
    assert sum(r.attempts for r in rows) == 20 + 4 + 1 + 2


def gaps(times: list[float]) -> list[float]:
    return [round(later - earlier, 6) for earlier, later in itertools.pairwise(times)]


async def test_a_person_gets_three_at_once_then_one_a_second_and_a_group_20_a_minute(
    api: FakeBotApi,
    channel: TelegramChannel,
    repository: SqlRepository,
    engine: AsyncEngine,
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    limits = api.enforce_limits(now=clock.monotonic)
    person = api.user(7001, "Mei")
    api.group(-100888, "Agents", forum=False)
    await queue(repository, clock, [(person.id, f"reply {n}") for n in range(6)])
    await queue(repository, clock, [(-100888, f"post {n}") for n in range(22)])

    await drain(Paced(channel, clock).dispatcher(engine, tmp_path / "data"), engine, clock)

    assert api.too_many == 0
    assert [m["text"] for m in person.messages] == [f"reply {n}" for n in range(6)]
    assert [m["text"] for m in api.groups[-100888].messages] == [f"post {n}" for n in range(22)]
    to_person = [t for t, chat, _method in limits.sent if chat == person.id]
    # Three at once (as fast as the overall 30 a second lets them), then one a second:
    # each message at least a second after the one three before it, none much later.
    assert to_person[2] - to_person[0] < 0.2
    assert min(gaps(to_person)[2:]) >= 1 - 2e-6
    three_apart = zip(to_person, to_person[3:], strict=False)
    assert all(later - earlier >= 1 - 2e-6 for earlier, later in three_apart)
    assert to_person[5] - to_person[0] < 3 + 1.5
    to_group = [t for t, chat, _method in limits.sent if chat == -100888]
    # 20 in any minute: the first 20 at once (spaced by the overall 30 a second only),
    # the 21st and 22nd a minute (and a second's margin) after the first and second.
    assert to_group[19] - to_group[0] < 1
    assert to_group[20] - to_group[0] >= 60
    assert to_group[21] - to_group[1] >= 60
    assert to_group[21] - to_group[0] < 61 + 2


async def test_the_stand_in_answers_a_burst_beyond_telegrams_with_429(
    api: FakeBotApi,
    channel: TelegramChannel,
    repository: SqlRepository,
    engine: AsyncEngine,
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    """A pacer that lets a fourth message into a private chat at once meets Telegram's
    answer: the tests measure the pacing against the stand-in's rules, not its own."""
    api.enforce_limits(now=clock.monotonic)
    person = api.user(7002, "Lei")
    await queue(repository, clock, [(person.id, f"reply {n}") for n in range(5)])

    dispatcher = Paced(channel, clock).dispatcher(
        engine, tmp_path / "data", telegram_pacing(chat_burst=4)
    )
    await drain(dispatcher, engine, clock)

    assert api.too_many == 1  # the fourth, held back for its retry_after
    assert [m["text"] for m in person.messages] == [f"reply {n}" for n in range(5)]


async def test_edits_count_like_sends(
    api: FakeBotApi, channel: TelegramChannel, clock: FakeClock
) -> None:
    api.enforce_limits(now=clock.monotonic)
    person = api.user(7003, "Fang")
    bot = channel.application.bot
    sent = [await bot.send_message(person.id, f"message {n}") for n in range(3)]
    with pytest.raises(RetryAfter) as too_many:
        await bot.edit_message_text("edited", chat_id=person.id, message_id=sent[0].message_id)
    assert too_many.value.retry_after == 1  # whole seconds, as Telegram says it
    clock.advance(seconds=1)
    await bot.edit_message_text("edited", chat_id=person.id, message_id=sent[0].message_id)
    assert person.messages[0]["text"] == "edited"
    assert api.too_many == 1


async def test_a_group_gets_20_a_minute_and_telegram_counts_overall_per_second(
    api: FakeBotApi, channel: TelegramChannel, clock: FakeClock
) -> None:
    api.enforce_limits(now=clock.monotonic)
    group = api.group(-100999, "Agents", forum=False)
    bot = channel.application.bot
    for n in range(20):
        await bot.send_message(group.id, f"post {n}")
    with pytest.raises(RetryAfter) as too_many:
        await bot.send_message(group.id, "post 20")
    assert too_many.value.retry_after == 60
    users = [api.user(7100 + n, f"User {n}") for n in range(10)]
    for user in users:  # 20 + 10 in this second: Telegram's 30
        await bot.send_message(user.id, "hello")
    with pytest.raises(RetryAfter):
        await bot.send_message(api.user(7200, "One too many").id, "hello")
    clock.advance(seconds=1)
    await bot.send_message(7200, "hello")
    assert api.too_many == 2
