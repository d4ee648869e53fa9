"""What the web chat reads and keeps: a conversation's transcript (its messages in and
out, from the messages table, in the order stored) and its visitor (where it began,
when its page last listened, what it showed)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.domain import RESPONSE_KINDS
from bot.ports import CaseRecord
from storage.database import QUICK_READ, READ_ONLY
from storage.models import Case, Message, WebVisitor
from storage.transaction import SqlTx

# Conversations woken at most per look: the rest wait for the next one.
TOUCHED_BATCH = 2000


@dataclass(frozen=True, slots=True)
class TranscriptRow:
    """One message of a conversation as stored: `raw` is what came in (the channel's
    own payload) or what went out (the outbound payload); `ref` the chat-local id of a
    message sent."""

    id: int
    direction: str
    kind: str
    text: str
    raw: dict[str, Any]
    at: datetime
    ref: str | None
    transport_id: str


class SqlTranscript:
    def __init__(self, engine: AsyncEngine) -> None:
        # A few rows by an index: on SQLite read without waiting for the writers' turn,
        # on the event loop's thread.
        self.reading = engine.execution_options(**{QUICK_READ: True})

    async def since(
        self, channel: str, conversation: str, after: int, limit: int = 200
    ) -> list[TranscriptRow]:
        """The conversation's messages stored after message `after`, oldest first."""
        async with AsyncSession(self.reading) as session:
            rows = await session.execute(
                select(
                    Message.id,
                    Message.direction,
                    Message.kind,
                    Message.text,
                    Message.raw,
                    Message.at,
                    Message.message_ref,
                    Message.transport_id,
                )
                .where(
                    Message.channel == channel,
                    Message.conversation == conversation,
                    Message.id > after,  # type: ignore[operator]
                )
                .order_by(Message.id)  # type: ignore[arg-type]
                .limit(limit)
            )
            return [TranscriptRow(*row) for row in rows.all()]

    async def touched(self, channel: str, after: int | None) -> tuple[int, frozenset[str]]:
        """The newest message's id, and the conversations of the channel with messages
        after `after` (None: just the newest id)."""
        async with AsyncSession(self.reading) as session:
            if after is None:
                newest = await session.scalar(select(func.max(Message.id)))
                return int(newest or 0), frozenset()
            rows = (
                await session.execute(
                    select(Message.id, Message.conversation, Message.channel)
                    .where(Message.id > after)  # type: ignore[operator]
                    .order_by(Message.id)  # type: ignore[arg-type]
                    .limit(TOUCHED_BATCH)
                )
            ).all()
        if not rows:
            return after, frozenset()
        return rows[-1][0], frozenset(conv for _id, conv, ch in rows if ch == channel)


class SqlVisitors:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        # For counting: on SQLite it need not wait for the writers' turn.
        self.reading = engine.execution_options(**{READ_ONLY: True})

    async def begin(self, conversation: str, address: str | None, now: datetime) -> None:
        """Records a new conversation's visitor (once)."""
        async with AsyncSession(self.engine) as session, session.begin():
            if await session.get(WebVisitor, conversation) is None:
                session.add(
                    WebVisitor(
                        conversation=conversation,
                        address=address,
                        created_at=now,
                        last_seen_at=now,
                    )
                )

    async def seen(self, conversation: str, now: datetime, message_id: int | None = None) -> None:
        """The conversation's page listens now (and has shown messages up to
        `message_id`)."""
        values: dict[str, Any] = {"last_seen_at": now}
        if message_id is not None:
            values["seen_message_id"] = func.max(WebVisitor.seen_message_id, message_id)
            if self.engine.dialect.name == "postgresql":
                values["seen_message_id"] = func.greatest(WebVisitor.seen_message_id, message_id)
        async with AsyncSession(self.engine) as session, session.begin():
            await session.execute(
                update(WebVisitor)
                .where(WebVisitor.conversation == conversation)  # type: ignore[arg-type]
                .values(**values)
            )

    async def open_drafts(self, channel: str, address: str, since: datetime) -> int:
        """Conversations begun from `address` since `since` that have filed no case."""
        filed = exists().where(
            Case.channel == channel, Case.conversation == WebVisitor.conversation
        )
        async with AsyncSession(self.reading) as session:
            count = await session.scalar(
                select(func.count())
                .select_from(WebVisitor)
                .where(
                    WebVisitor.address == address,
                    WebVisitor.created_at >= since,  # type: ignore[operator]
                    ~filed,
                )
            )
            return int(count or 0)


class ShownAnswerRows(SqlTx):
    """`bot.ports.ShownAnswers` on SQL: what the conversation's page reported it showed
    (`web_visitors.seen_message_id`; a conversation with no visitor showed nothing)."""

    async def answers_not_shown(self, case: CaseRecord, since: datetime | None) -> list[str]:
        shown = (
            select(WebVisitor.seen_message_id)
            .where(WebVisitor.conversation == case.conversation)  # type: ignore[arg-type]
            .scalar_subquery()
        )
        query = (
            select(Message.text)
            .where(
                Message.case_id == case.id,
                Message.channel == case.channel,
                Message.conversation == case.conversation,
                Message.direction == "out",
                Message.kind.in_(RESPONSE_KINDS),  # type: ignore[attr-defined]
                Message.text != "",
                Message.id > func.coalesce(shown, 0),  # type: ignore[operator]
            )
            .order_by(Message.id)  # type: ignore[arg-type]
        )
        if since is not None:
            query = query.where(Message.at > since)  # type: ignore[operator]
        return list((await self.session.scalars(query)).all())
