"""The bot's `Repository` on SQL: one transaction per handled message, under a lock.

The lock is an in-process `asyncio.Lock` per conversation (two quick messages from
one person are handled one after the other) plus, across processes, the database:
`SELECT … FOR UPDATE` on the conversation row on PostgreSQL, `BEGIN IMMEDIATE` on SQLite.

The transaction's methods live with the rows they touch, one module per port of
`bot.ports`: `storage.conversations`, `storage.cases` (+ `storage.agents`),
`storage.timers`, `storage.replies`, `storage.partners` and `storage.web_chat`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.ports import Clock, DueTimer, SystemClock
from storage.agents import AgentRows
from storage.cases import CaseRows
from storage.conversations import ConversationRows
from storage.database import READ_ONLY
from storage.files import EvidenceFiles
from storage.models import Case, CaseTimer, Conversation
from storage.partners import PartnerRows
from storage.replies import ReplyRows
from storage.timers import TimerRows
from storage.web_chat import ShownAnswerRows


class SqlConversationTx(
    ConversationRows, CaseRows, AgentRows, TimerRows, ReplyRows, PartnerRows, ShownAnswerRows
):
    """`bot.ports.ConversationTx` on SQL: every port's part on one session."""


class SqlRepository:
    def __init__(
        self,
        engine: AsyncEngine,
        data_dir: Path,
        clock: Clock | None = None,
        on_record: frozenset[str] = frozenset(),
    ) -> None:
        self.engine = engine
        # Channels whose messages are delivered by being on the record (the web chat).
        self.on_record = on_record
        self.files = EvidenceFiles(data_dir)
        self.clock = clock or SystemClock()
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._on_commit: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Calls `callback` after each committed conversation transaction that queued
        replies to send (wakes the dispatcher)."""
        self._on_commit.append(callback)

    def committed(self) -> None:
        """Calls the `on_commit` callbacks for work committed outside a conversation
        transaction (the status page's codes)."""
        for callback in self._on_commit:
            callback()

    def _lock(self, key: tuple[str, str]) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    @asynccontextmanager
    async def conversation(
        self, channel: str, conversation: str, sender_id: str
    ) -> AsyncIterator[SqlConversationTx]:
        async with self._lock((channel, conversation)):
            async with AsyncSession(self.engine, expire_on_commit=False) as session:
                async with session.begin():
                    row = await self._locked_conversation(session, channel, conversation)
                    tx = SqlConversationTx(
                        session,
                        row,
                        sender_id,
                        self.files,
                        self.clock,
                        dispatching_here=bool(self._on_commit),
                        on_record=self.on_record,
                    )
                    yield tx
        if tx.queued:  # a turn that only stored web chat answers has nothing to send
            for callback in self._on_commit:
                callback()

    async def due_timers(self, now: datetime, limit: int) -> list[DueTimer]:
        query = (
            select(CaseTimer.id, Case.case_no, Case.channel, Case.conversation)
            .join(Case, Case.id == CaseTimer.case_id)
            .where(CaseTimer.status == "pending", CaseTimer.due_at <= now)
            .order_by(CaseTimer.due_at, CaseTimer.id)
            .limit(limit)
        )
        # Only reads: on SQLite it need not wait for the writers' turn.
        async with AsyncSession(self.engine.execution_options(**{READ_ONLY: True})) as session:
            rows = (await session.execute(query)).all()
        return [DueTimer(*row) for row in rows]

    async def conversation_of(self, case_no: str) -> tuple[str, str] | None:
        query = select(Case.channel, Case.conversation).where(Case.case_no == case_no)
        async with AsyncSession(self.engine.execution_options(**{READ_ONLY: True})) as session:
            row = (await session.execute(query)).first()
        return None if row is None else (row[0], row[1])

    async def _locked_conversation(
        self, session: AsyncSession, channel: str, conversation: str
    ) -> Conversation:
        query = select(Conversation).where(
            Conversation.channel == channel, Conversation.conversation == conversation
        )
        if session.bind.dialect.name == "postgresql":
            await session.execute(
                text(
                    "INSERT INTO conversations (channel, conversation, updated_at) "
                    "VALUES (:channel, :conversation, :now) ON CONFLICT DO NOTHING"
                ),
                {"channel": channel, "conversation": conversation, "now": self.clock.now()},
            )
            query = query.with_for_update()
        row = (await session.execute(query)).scalar_one_or_none()
        if row is None:
            row = Conversation(
                channel=channel, conversation=conversation, updated_at=self.clock.now()
            )
            session.add(row)
            await session.flush()
        return row
