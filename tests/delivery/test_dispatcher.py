"""The outbox dispatcher: retries with backoff, gives up on permanent failures, keeps order."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.router import ComplaintBot
from delivery.sending import DeliveryError
from storage.models import Case, OutboxItem, TimelineEvent
from storage.outbox import SqlOutbox
from tests.bot.test_service import ENGLISH_INTAKE
from tests.support.chat import Chat, texts
from tests.support.clock import FakeClock


async def test_a_transient_failure_is_retried_after_backoff_and_order_is_kept(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, engine: AsyncEngine
) -> None:
    chat = Chat(bot, outbox, clock)
    chat.sender.failures.append(DeliveryError("Timed out", permanent=False))
    assert await chat.say("/start") == []  # greeting and question both held back

    assert await chat.dispatcher.run_once() == 0  # not due yet: backoff
    clock.advance(seconds=3)
    while await chat.dispatcher.run_once():
        pass
    greeting, question = chat.mine()
    assert greeting.text.startswith("Hello!")
    assert question.text.startswith("Please describe what happened")
    async with AsyncSession(engine) as session:
        items = (await session.scalars(select(OutboxItem).order_by(OutboxItem.id))).all()
    assert [(i.status, i.attempts) for i in items] == [("sent", 2), ("sent", 1)]


async def test_retry_after_from_the_channel_is_respected(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    chat = Chat(bot, outbox, clock)
    chat.sender.failures.append(DeliveryError("Too Many Requests", permanent=False, retry_after=30))
    await chat.say("/help")
    clock.advance(seconds=29)
    assert await chat.dispatcher.run_once() == 0
    clock.advance(seconds=2)
    assert await chat.dispatcher.run_once() == 1
    assert "Commands:" in texts(chat.mine())


async def test_a_permanent_failure_is_recorded_on_the_case_and_not_retried(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, engine: AsyncEngine
) -> None:
    chat = Chat(bot, outbox, clock)
    for action, value, _ in ENGLISH_INTAKE[:-1]:
        await getattr(chat, action)(value)
    chat.sender.failures.append(
        DeliveryError("Forbidden: bot was blocked by the user", permanent=True)
    )
    assert await chat.press("Confirm") == []
    clock.advance(hours=1)
    assert await chat.dispatcher.run_once() == 0
    async with AsyncSession(engine) as session:
        receipt = (
            await session.scalars(select(OutboxItem).where(OutboxItem.kind == "receipt"))
        ).one()
        case = (await session.scalars(select(Case))).one()
        events = (await session.scalars(select(TimelineEvent))).all()
    assert (receipt.status, receipt.attempts) == ("failed", 1)
    assert "blocked" in (receipt.last_error or "")
    assert case.receipt_sent_at is None
    failed = [e.payload for e in events if e.kind == "delivery_failed"]
    assert failed == [{"kind": "receipt", "error": "Forbidden: bot was blocked by the user"}]
