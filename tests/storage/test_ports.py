"""One suite for the bot's ports over every backend: SQLite, PostgreSQL and memory.

What the flow tests take for granted of a `Repository` and the outbox, pinned down
the same way for each implementation (as aiogram tests its FSM storages).
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.domain import Category
from bot.messages import Inbound, InboundKind, Outbound
from bot.opening import with_opening
from bot.ports import ConversationTx, NewCase
from delivery.sending import Sent
from storage.models import Conversation
from tests.support.clock import FakeClock
from tests.support.records import Records

_numbers = itertools.count(1)


def inbound(clock: FakeClock, channel: str = "test", who: str = "7", **fields: Any) -> Inbound:
    clock.advance(seconds=5)
    number = next(_numbers)
    fields.setdefault("message_id", str(number))
    return Inbound(
        channel=channel,
        transport_id=f"t-{number}",
        conversation=who,
        sender_id=who,
        received_at=clock.now(),
        kind=InboundKind.TEXT,
        text=f"message {number}",
        **fields,
    )


async def open_case(tx: ConversationTx, clock: FakeClock, channel: str = "test") -> str:
    now = clock.now()
    return await tx.create_case(
        with_opening(
            NewCase(
                prefix="TS",
                number_day=now.date(),
                channel=channel,
                conversation="7",
                locale="en",
                name="Alice",
                phone=None,
                email="alice@example.com",
                category=Category.APPEAL,
                subject="Double charge",
                description="Charged twice",
                expectation="",
                evidence=(),
                description_edits=(),
                received_at=now - timedelta(minutes=1),
                created_at=now,
                response_due_at=now + timedelta(hours=1),
            )
        )
    )


class Failed(Exception):
    pass


async def test_a_failed_transaction_leaves_nothing_behind(
    repository: Any, records: Records, clock: FakeClock
) -> None:
    message = inbound(clock)
    with pytest.raises(Failed):
        async with repository.conversation("test", "7", "7") as tx:
            assert await tx.record_inbound(message)
            await tx.save_state({"step": "confirm"})
            await open_case(tx, clock)
            raise Failed
    assert await records.cases() == [] and await records.messages() == []
    # The transport redelivers: the message is new, the state as before, the number free.
    async with repository.conversation("test", "7", "7") as tx:
        assert await tx.record_inbound(message)
        assert await tx.load_state() is None
        assert await open_case(tx, clock) == f"TS-{clock.now():%Y%m%d}-0001"


async def test_a_transport_id_is_stored_once(repository: Any, clock: FakeClock) -> None:
    message = inbound(clock)
    for first in (True, False):
        async with repository.conversation("test", "7", "7") as tx:
            assert await tx.record_inbound(message) is first


async def test_the_state_is_the_conversations_own_and_kept_only_when_saved(
    repository: Any, clock: FakeClock
) -> None:
    async with repository.conversation("test", "7", "7") as tx:
        await tx.save_state({"answers": ["a"]})
    async with repository.conversation("test", "8", "8") as tx:
        assert await tx.load_state() is None
    async with repository.conversation("test", "7", "7") as tx:
        state = await tx.load_state()
        assert state == {"answers": ["a"]}
        state["answers"].append("b")  # changed, never saved
    async with repository.conversation("test", "7", "7") as tx:
        assert await tx.load_state() == {"answers": ["a"]}


async def test_only_an_answer_is_a_first_response_and_not_automatic(
    repository: Any, outbox: Any, records: Records, clock: FakeClock
) -> None:
    async with repository.conversation("test", "7", "7") as tx:
        await tx.record_inbound(inbound(clock))
        case_no = await open_case(tx, clock)
        since = clock.now()
        for kind, answer in (("status_notice", False), ("agent_reply", True)):
            await tx.enqueue(
                Outbound("test", "7", kind, case_no=case_no), kind, clock.now(), answer=answer
            )
        assert await tx.automatic_replies_since(since) == 1
    notice, reply = await outbox.claim(clock.now(), 10)
    assert (notice.outbound.automatic, reply.outbound.automatic) == (True, False)
    clock.advance(minutes=1)
    await outbox.delivered(notice, Sent(("1",)), clock.now())
    assert (await records.case(case_no)).first_response_at is None
    clock.advance(minutes=1)
    await outbox.delivered(reply, Sent(("2",)), clock.now())
    assert (await records.case(case_no)).first_response_at == clock.now()
    sent = await records.events(case_no, "message_sent")
    assert [e.payload["text"] for e in sent] == ["status_notice", "agent_reply"]


async def test_a_mail_reply_is_threaded_under_the_complainants_latest_message(
    repository: Any, outbox: Any, clock: FakeClock
) -> None:
    async with repository.conversation("email", "7", "7") as tx:
        await tx.record_inbound(inbound(clock, "email", message_id="<first@x>"))
        case_no = await open_case(tx, clock, "email")
        await tx.enqueue(Outbound("email", "7", "receipt", case_no=case_no), "receipt", clock.now())
    (receipt,) = await outbox.claim(clock.now(), 10)
    assert receipt.outbound.references == ("<first@x>",)
    await outbox.delivered(receipt, Sent(("<receipt@us>",)), clock.now())
    async with repository.conversation("email", "7", "7") as tx:
        await tx.record_inbound(inbound(clock, "email", message_id="<again@x>"))
        case = await tx.case_by_references(("<unknown@x>", "<receipt@us>"))
        assert case is not None and case.case_no == case_no
        await tx.attach_inbound(case)
        await tx.enqueue(Outbound("email", "7", "noted", case_no=case_no), "ack", clock.now())
    (noted,) = await outbox.claim(clock.now(), 10)
    await outbox.delivered(noted, Sent(("<noted@us>",)), clock.now())
    async with repository.conversation("email", "7", "7") as tx:
        await tx.enqueue(Outbound("email", "7", "answer", case_no=case_no), "r", clock.now())
    (answer,) = await outbox.claim(clock.now(), 10)
    assert answer.outbound.subject == "Double charge"
    assert answer.outbound.references == (
        "<first@x>",
        "<receipt@us>",
        "<noted@us>",
        "<again@x>",
    )


async def test_the_conversation_is_stamped_by_the_injected_clock(
    repository: Any, engine: AsyncEngine, clock: FakeClock
) -> None:
    clock.advance(days=400)
    async with repository.conversation("test", "7", "7") as tx:
        await tx.save_state({"step": "name"})
    async with AsyncSession(engine) as session:
        row = (await session.scalars(select(Conversation))).one()
    assert row.updated_at == clock.now()
