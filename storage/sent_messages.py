"""What sending a queued reply writes: the outbox row settled, the messages table's rows
(what the conversation's transcript and a reply to it go by) and, for a case, what the
case was told on its timeline.

Written by the dispatcher after a channel took the message (`storage.outbox`), or by
the transaction that queues it on a channel whose messages are delivered by being on the
record (`storage.replies`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from delivery.sending import Sent
from storage.chain import append_event
from storage.models import Case, Message, OutboxItem
from storage.search import reindex_case


def own_thread_letter(row: OutboxItem) -> bool:
    """Whether the row is a letter of a thread of its own (`Outbound.subject`)."""
    return row.payload.get("subject") is not None


async def record_sent(session: AsyncSession, row: OutboxItem, sent: Sent, at: datetime) -> None:
    """Records `row` as sent at `at` as the channel's message(s) `sent`."""
    transport_ids = [f"{row.conversation}:{m}" for m in sent.message_ids]
    transport_id = transport_ids[0] if transport_ids else f"{row.conversation}:-"
    row.status, row.sent_at, row.transport_message_id = "sent", at, transport_id
    row.thread = sent.thread
    session.add(row)
    # One row per message taken, so a reply to any of them finds the case.
    for position, message_id in enumerate(sent.message_ids):
        session.add(
            Message(
                channel=row.channel,
                direction="out",
                transport_id=transport_ids[position],
                conversation=row.conversation,
                message_ref=message_id,
                sender_id="bot",
                kind=row.kind,
                text=row.payload.get("text", "") if position == 0 else "",
                raw=row.payload if position == 0 else {},
                at=at,
                case_id=row.case_id,
            )
        )
    if row.case_id is not None and row.payload.get("text"):
        await reindex_case(session, row.case_id)  # what the case was told
    if row.case_id is None or own_thread_letter(row):
        return  # a letter of its own thread: the case's timeline has the request
    if (
        row.kind.startswith("desk_")
        and sent.thread is not None
        and (row.kind == "desk_card" or row.payload.get("case_thread"))
    ):
        # The card opens the thread; a later post may have had to open a new one.
        await session.execute(
            update(Case)
            .where(Case.id == row.case_id)  # type: ignore[arg-type]
            .values(agent_thread=sent.thread)
        )
    if row.kind.startswith("desk_"):
        return  # the agents' own view; the timeline has the decision itself
    if row.answer:
        await session.execute(
            update(Case)
            .where(Case.id == row.case_id, Case.first_response_at.is_(None))  # type: ignore[union-attr]
            .values(first_response_at=at)
        )
    if row.kind == "receipt":
        await session.execute(
            update(Case)
            .where(Case.id == row.case_id, Case.receipt_sent_at.is_(None))  # type: ignore[union-attr]
            .values(receipt_sent_at=at)
        )
    await append_event(
        session,
        row.case_id,
        at,
        "system",
        "receipt_sent" if row.kind == "receipt" else "message_sent",
        {"text": row.payload.get("text", ""), "transport_id": transport_id},
    )
