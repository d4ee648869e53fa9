"""The outbox dispatcher: fair rounds, people before notices, order per lane, retries
that hold back only their own conversation, give-up after a time window, and claims
that die with the process that made them. On every backend, time on the test's clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.messages import Outbound
from bot.router import ComplaintBot
from channels.telegram.pacing import telegram_pacing
from delivery.dispatcher import Dispatcher
from delivery.pacing import LocalBudget
from delivery.ports import Delivery, OutboxStore
from delivery.sending import ChannelPacing, DeliveryError, Rate, Sent
from storage.models import Case, OutboxItem, TimelineEvent
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.bot.test_service import ENGLISH_INTAKE
from tests.support.chat import Chat
from tests.support.clock import FakeClock
from tests.support.memory import MemoryRepository

Repo = SqlRepository | MemoryRepository


class ChatSender:
    """Records what each conversation got; a conversation can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.failures: dict[str, list[DeliveryError]] = {}

    async def send(self, outbound: Outbound) -> Sent:
        failures = self.failures.get(outbound.conversation)
        if failures:
            raise failures.pop(0)
        self.sent.append((outbound.conversation, outbound.text))
        return Sent((str(len(self.sent)),))

    def texts(self, conversation: str) -> list[str]:
        return [text for who, text in self.sent if who == conversation]


async def queue(
    repository: Repo, clock: FakeClock, conversation: str, texts: list[str], notice: bool = False
) -> None:
    async with repository.conversation("test", conversation, "test") as tx:
        for text in texts:
            await tx.enqueue(
                Outbound("test", conversation, text), "reply", clock.now(), notice=notice
            )


def dispatcher(
    outbox: OutboxStore, sender: ChatSender, clock: FakeClock, **options: Any
) -> Dispatcher:
    """Paced on the test's clock; backoff at the top of its range."""
    return Dispatcher(
        outbox,
        {"test": sender},
        clock,
        jitter=lambda _low, high: high,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        **options,
    )


async def test_a_flooded_conversation_gets_its_turn_like_the_others(
    repository: Repo, outbox: OutboxStore, clock: FakeClock
) -> None:
    sender = ChatSender()
    await queue(repository, clock, "flood", [f"flood {n}" for n in range(40)])
    for person in ("a", "b", "c", "d", "e"):
        await queue(repository, clock, person, [f"hello {person}"])
    one_pass = dispatcher(outbox, sender, clock, batch=10, per_conversation=3)

    assert await one_pass.run_once() == 8
    # Everyone's first message went in the first pass; the flood only three of its 40.
    assert {who for who, _text in sender.sent} == {"flood", "a", "b", "c", "d", "e"}
    assert sender.texts("flood") == ["flood 0", "flood 1", "flood 2"]
    while await one_pass.run_once():
        pass
    assert sender.texts("flood") == [f"flood {n}" for n in range(40)]


async def test_a_persons_answer_goes_before_a_hundred_waiting_notices(
    repository: Repo, outbox: OutboxStore, clock: FakeClock
) -> None:
    sender = ChatSender()
    await queue(repository, clock, "-100", [f"reminder {n}" for n in range(100)], notice=True)
    await queue(repository, clock, "-100", ["claimed by you"])
    group_paced = dispatcher(
        outbox,
        sender,
        clock,
        batch=10,
        pacing={"test": ChannelPacing(per_conversation=lambda _c: Rate(20, 60.0, burst=3))},
    )

    await group_paced.run_once()
    assert sender.texts("-100")[0] == "claimed by you"
    answered_at = None
    for second in range(300):
        if second == 150:
            await queue(repository, clock, "-100", ["resolved, thanks"])
        await group_paced.run_once()
        if answered_at is None and "resolved, thanks" in sender.texts("-100"):
            answered_at = second
        clock.advance(seconds=1)
    # Notices had at most two thirds of the group's 20 a minute (and their burst of 2);
    # the agent's next answer found room within one message's interval (3 s).
    reminders = [t for t in sender.texts("-100") if t.startswith("reminder")]
    assert 60 <= len(reminders) <= 2 + 300 * 20 * 2 / 3 / 60
    assert reminders == [f"reminder {n}" for n in range(len(reminders))]
    assert answered_at is not None and answered_at - 150 <= 3


async def test_beyond_the_overall_burst_each_message_waits_for_its_own_slot(
    repository: Repo, outbox: OutboxStore, clock: FakeClock
) -> None:
    sender = ChatSender()
    for person in range(12):
        await queue(repository, clock, str(person), [f"hello {person}"])
    pacing = {"test": ChannelPacing(overall=Rate(10, 1.0))}  # ten at once, then ten a second
    budget = LocalBudget(pacing, clock.monotonic)
    takes, sleeps = [], []

    async def take(channel: str, conversation: str, notice: bool, within: float = 0.0) -> Any:
        takes.append(conversation)
        return await LocalBudget.take(budget, channel, conversation, notice, within)

    async def sleep(seconds: float) -> None:  # time stands still: the slots show as asked
        sleeps.append(round(seconds, 6))
        await asyncio.sleep(0)

    budget.take = take  # type: ignore[method-assign]
    paced = dispatcher(outbox, sender, clock, batch=20, pacing=pacing, budget=budget)
    paced.sleep = sleep

    assert await paced.run_once() == 12
    assert sorted(who for who, _text in sender.sent) == sorted(str(n) for n in range(12))
    # Each asked the budget once: the two beyond the burst were given the next slots
    # (a tenth and two tenths of a second away) and waited for them, polling nothing.
    assert len(takes) == 12
    assert sorted(sleeps) == [0.1, 0.2]


async def test_claims_of_a_process_that_died_are_taken_over_at_once(
    repository: Repo, outbox: OutboxStore, clock: FakeClock
) -> None:
    sender = ChatSender()
    await queue(repository, clock, "a", ["one", "two"])
    await queue(repository, clock, "b", ["three"])
    # A process claimed everything and died before sending any of it.
    assert len(await outbox.claim(clock.now(), 10)) == 3

    restarted = dispatcher(outbox, sender, clock)
    assert await restarted.run_once() == 3  # no lease to wait out: the clock never moved
    assert sender.texts("a") == ["one", "two"]
    assert sender.texts("b") == ["three"]


async def test_a_live_dispatcher_in_another_process_keeps_its_claims(
    repository: Repo, outbox: OutboxStore, clock: FakeClock, tmp_path
) -> None:
    if not isinstance(outbox, SqlOutbox):
        return  # one process's memory has no other process
    sender = ChatSender()
    await queue(repository, clock, "a", ["one"])
    other = SqlOutbox(outbox.engine, tmp_path / "data")
    async with other.exclusive() as mine:
        assert mine
        (claimed,) = await other.claim(clock.now(), 10)
        # Another process (`run`, or a CLI command) finds the outbox held: it sends
        # nothing and takes over nothing.
        assert await dispatcher(outbox, sender, clock).run_once() == 0
        await other.delivered(claimed, Sent(("other-1",)), clock.now())
    assert sender.sent == []
    await queue(repository, clock, "a", ["two"])
    assert await dispatcher(outbox, sender, clock).run_once() == 1
    assert sender.texts("a") == ["two"]


async def test_a_429_holds_back_only_its_own_conversation(
    repository: Repo, outbox: OutboxStore, clock: FakeClock
) -> None:
    sender = ChatSender()
    sender.failures["a"] = [DeliveryError("Too Many Requests", permanent=False, retry_after=30)]
    await queue(repository, clock, "a", ["a1", "a2"])
    await queue(repository, clock, "b", ["b1", "b2"])
    paced = dispatcher(outbox, sender, clock, pacing={"test": ChannelPacing()})

    await paced.run_once()
    assert sender.texts("b") == ["b1", "b2"]
    assert sender.texts("a") == []
    await queue(repository, clock, "b", ["b3"])
    clock.advance(seconds=29)
    await paced.run_once()
    assert sender.texts("b") == ["b1", "b2", "b3"]
    assert sender.texts("a") == []
    clock.advance(seconds=2)
    await paced.run_once()
    assert sender.texts("a") == ["a1", "a2"]


async def test_transient_failures_back_off_at_most_30_seconds_and_keep_the_order(
    repository: Repo, outbox: OutboxStore, clock: FakeClock
) -> None:
    sender = ChatSender()
    sender.failures["a"] = [DeliveryError("502 Bad Gateway", permanent=False) for _ in range(9)]
    await queue(repository, clock, "a", ["first", "second", "third"])
    retrying = dispatcher(outbox, sender, clock)

    waited = []
    while not sender.texts("a"):
        assert await retrying.run_once() <= 3
        before = clock.now()
        while await retrying.run_once() == 0:
            clock.advance(seconds=1)
        waited.append((clock.now() - before).total_seconds())
    assert max(waited) <= 30
    assert sender.texts("a") == ["first", "second", "third"]


async def test_a_message_failing_for_a_day_is_given_up(
    bot: ComplaintBot, outbox: OutboxStore, clock: FakeClock
) -> None:
    chat = Chat(bot, outbox, clock)
    for action, value, _ in ENGLISH_INTAKE[:-1]:
        await getattr(chat, action)(value)
    given_up: list[tuple[Delivery, str]] = []

    async def tell(delivery: Delivery, error: str) -> None:
        given_up.append((delivery, error))

    chat.dispatcher.on_failure = tell
    chat.sender.failures.extend(
        DeliveryError("502 Bad Gateway", permanent=False) for _ in range(10_000)
    )
    await chat.press("Confirm")
    queued = clock.now()
    for _ in range(20):  # more attempts than any count limit would allow
        await chat.dispatcher.run_once()
        clock.advance(seconds=31)
    clock.current = queued + timedelta(hours=23, minutes=59)
    await chat.dispatcher.run_once()
    assert given_up == []  # still retried a minute before the day is out
    clock.advance(seconds=61)
    await chat.dispatcher.run_once()
    ((delivery, error),) = given_up
    assert (delivery.kind, error, delivery.attempts) == ("receipt", "502 Bad Gateway", 22)
    assert delivery.queued_at == queued


async def test_a_permanent_failure_is_recorded_on_the_case_and_not_retried(
    bot: ComplaintBot, outbox: OutboxStore, clock: FakeClock, engine: AsyncEngine
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


async def test_an_agents_verification_goes_at_once_while_a_hundred_reminders_wait(
    repository: Repo, outbox: OutboxStore, clock: FakeClock
) -> None:
    """Telegram's shape for the agents' group (20 in any minute): reminders get at most
    two thirds of it, so an agent's command and each press of the verification (one
    message each, edits counting like sends) is answered in the pass it arrives in."""
    sender = ChatSender()
    await queue(repository, clock, "-100777", [f"reminder {n}" for n in range(100)], notice=True)
    paced = dispatcher(outbox, sender, clock, pacing={"test": telegram_pacing()})
    steps = ["/resolve", "facts", "nature", "responsibility", "severity", "confirm"]
    answered = []
    for second in range(20):
        if 5 <= second < 5 + len(steps):  # an agent acts once a second
            await queue(repository, clock, "-100777", [f"answer to {steps[second - 5]}"])
        before = len(sender.texts("-100777"))
        await paced.run_once()
        answered += [(second, t) for t in sender.texts("-100777")[before:] if "answer" in t]
        clock.advance(seconds=1)
    assert answered == [(5 + n, f"answer to {step}") for n, step in enumerate(steps)]
    reminders = [t for t in sender.texts("-100777") if t.startswith("reminder")]
    assert len(reminders) == 13  # two thirds of 20 in the window
