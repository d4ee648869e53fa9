"""The rate-limit budgets every dispatching worker takes from, in PostgreSQL: what one
worker takes, the others cannot; holds and notices' share count for all; at the
database's own clock, many workers taking at once never break a limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from channels.telegram.pacing import telegram_pacing
from delivery.ports import BudgetWait
from delivery.sending import ChannelPacing, Rate
from storage.database import create_engine
from storage.models import SendBudgetRow
from storage.send_budget import MARGIN, RESERVE, SqlSendBudget


class Seconds:
    """The budgets' clock in these tests: seconds, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[list[AsyncEngine]]:
    """Three workers' connections to one database."""
    if not database_url.startswith("postgresql"):
        pytest.skip("budgets shared in the database are for several workers: PostgreSQL")
    engines = [create_engine(database_url) for _ in range(3)]
    yield engines
    for engine in engines:
        await engine.dispose()


def budgets(
    engines: list[AsyncEngine],
    clock: Seconds | None = None,
    pacing: ChannelPacing | None = None,
    margin: float = 0.0,
    reserve: float = 0.0,
) -> list[SqlSendBudget]:
    """Each worker's budget; without the margin and the reserve, to see the channel's
    limits exactly."""
    channel = pacing or telegram_pacing()
    return [
        SqlSendBudget(engine, {"telegram": channel}, clock, margin=margin, reserve=reserve)
        for engine in engines
    ]


async def test_what_one_worker_takes_the_others_cannot(engines: list[AsyncEngine]) -> None:
    clock = Seconds()
    a, b, c = budgets(engines, clock)
    # A private chat: three at once, then one a second, whoever asks.
    assert (await a.take("telegram", "1001", False)).taken
    assert (await b.take("telegram", "1001", False)).taken
    assert (await c.take("telegram", "1001", False)).taken
    fourth = await a.take("telegram", "1001", False)
    assert fourth.conversation == pytest.approx(1.0) and not fourth.taken
    assert (await b.take("telegram", "1002", False)).taken  # someone else is not held up
    clock.now += 1.0
    assert (await c.take("telegram", "1001", False)).taken
    assert (await a.take("telegram", "1001", False)).conversation == pytest.approx(1.0)


async def test_a_groups_minute_and_the_overall_second_hold_across_workers(
    engines: list[AsyncEngine],
) -> None:
    clock = Seconds()
    workers = budgets(engines, clock)
    for n in range(20):  # a group: 20 in any 61 s
        assert (await workers[n % 3].take("telegram", "-100777", False)).taken
        clock.now += 0.5
    assert (await workers[2].take("telegram", "-100777", False)).conversation == pytest.approx(
        61 - 20 * 0.5
    )
    # Overall: five at once after a quiet moment, then one every 1/30 s.
    clock.now += 100
    for n in range(5):
        assert (await workers[n % 3].take("telegram", str(5000 + n), False)).taken
    sixth = await workers[1].take("telegram", "5006", False)
    assert sixth.conversation == 0 and sixth.overall == pytest.approx(1 / 30)


async def test_the_next_overall_slot_is_reserved_whichever_worker_asks(
    engines: list[AsyncEngine],
) -> None:
    clock = Seconds()
    workers = budgets(engines, clock)
    for n in range(5):  # the overall burst
        assert await workers[n % 3].take("telegram", str(7000 + n), False, 0.2) == BudgetWait()
    slots = [await workers[n % 3].take("telegram", str(7100 + n), False, 0.2) for n in range(6)]
    # One every 1/30 s, each worker's after the others': none waits for a free slot and
    # races another for it.
    assert [round(wait.after * 30, 6) for wait in slots] == [1, 2, 3, 4, 5, 6]
    beyond = await workers[0].take("telegram", "7200", False, 0.2)
    assert not beyond.taken and beyond.overall == pytest.approx(7 / 30)


async def test_a_hold_and_the_notices_share_count_for_every_worker(
    engines: list[AsyncEngine],
) -> None:
    clock = Seconds()
    a, b, _c = budgets(engines, clock)
    await a.hold("telegram", "1001", 30)
    assert await b.take("telegram", "1001", False) == BudgetWait(conversation=30)
    clock.now += 30
    assert (await b.take("telegram", "1001", False)).taken
    # Automated notices may use two of a chat's three at once; a person's answer the third.
    assert (await a.take("telegram", "2002", True)).taken
    assert (await b.take("telegram", "2002", True)).taken
    assert (await a.take("telegram", "2002", True)).conversation > 0
    assert (await b.take("telegram", "2002", False)).taken


async def test_workers_keep_a_margin_for_their_messages_way_to_the_transport(
    engines: list[AsyncEngine],
) -> None:
    clock = Seconds()
    a, b, _c = budgets(engines, clock, margin=MARGIN, reserve=RESERVE)
    for _ in range(2):
        assert (await a.take("telegram", "1001", False)).taken
    # The burst's last message waits the reserve (held back for a first message that
    # reaches Telegram late) ...
    assert (await b.take("telegram", "1001", False)).conversation == pytest.approx(RESERVE)
    clock.now += RESERVE
    assert (await b.take("telegram", "1001", False)).taken
    # ... which the next keeps: one a second becomes one every 1 + MARGIN seconds, from
    # the first message's time plus the reserve.
    assert (await a.take("telegram", "1001", False)).conversation == pytest.approx(1 + MARGIN)
    # The group's minute is as much longer (a window: no reserve).
    for n in range(20):
        assert (await (a, b)[n % 2].take("telegram", "-100777", False)).taken
        clock.now += 1
    assert (await b.take("telegram", "-100777", False)).conversation == pytest.approx(
        61 + MARGIN - 20
    )


async def test_idle_budgets_are_forgotten(engines: list[AsyncEngine]) -> None:
    clock, ticks = Seconds(), [0.0]
    budget = SqlSendBudget(engines[0], {"telegram": telegram_pacing()}, clock, lambda: ticks[0])
    for n in range(10):
        assert (await budget.take("telegram", str(3000 + n), False)).taken
        clock.now += 0.1

    async def rows() -> int:
        async with AsyncSession(engines[0]) as session:
            return int(await session.scalar(select(func.count()).select_from(SendBudgetRow)) or 0)

    assert await rows() == 11  # the overall budget and ten chats'
    clock.now += 120  # all full again: they say no more than no row
    ticks[0] += 120
    assert (await budget.take("telegram", "3000", False)).taken
    assert await rows() == 2


@pytest.mark.parametrize("within", [0.0, 0.5])
async def test_many_takers_at_once_keep_the_limits_on_the_databases_clock(
    engines: list[AsyncEngine], within: float
) -> None:
    """Three workers with two senders each take 60 slots for six chats as fast as the
    budgets allow (waiting for the overall budget, or for the slot reserved in it):
    no second holds more than the overall 20, no chat more than its rate."""
    pacing = ChannelPacing(
        overall=Rate.per(20, 1.0, burst=5, window=True),
        per_conversation=lambda _chat: Rate.per(4, 1.0, burst=2),
    )
    workers = budgets(engines, pacing=pacing)
    sent: list[tuple[float, str]] = []
    chats = iter([str(n % 6) for n in range(60)])

    async def sender(budget: SqlSendBudget) -> None:
        for chat in chats:
            # Waiting as long as the budget says is the dispatcher's part, played here.
            while not (wait := await budget.take("telegram", chat, False, within)).taken:  # noqa: ASYNC110
                await asyncio.sleep(max(wait.conversation, wait.overall))
            await asyncio.sleep(wait.after)
            sent.append((time.time(), chat))

    await asyncio.wait_for(asyncio.gather(*(sender(w) for w in workers for _ in range(2))), 60)
    slack = 0.05  # from the database's clock to this process's reading of time
    times = sorted(at for at, _chat in sent)
    assert len(times) == 60
    assert all(times[i + 20] - times[i] >= 1.0 - slack for i in range(len(times) - 20))
    for chat in {chat for _at, chat in sent}:
        own = sorted(at for at, to in sent if to == chat)
        assert all(own[i + 2] - own[i] >= 0.25 - slack for i in range(len(own) - 2)), chat
