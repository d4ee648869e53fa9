"""The IMAP poller's place in each mailbox (UIDVALIDITY, highest UID handled), and which
worker polls it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.ports import Clock, SystemClock
from storage.models import MailCursor


class SqlMailCursors:
    """`channels.spec.CursorStore` in the database; `updated_at` is the clock's time."""

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()

    async def load(self, account: str) -> tuple[int, int] | None:
        async with AsyncSession(self.engine) as session:
            row = await session.scalar(select(MailCursor).where(MailCursor.account == account))
        return (row.uidvalidity, row.last_uid) if row else None

    async def save(self, account: str, uidvalidity: int, last_uid: int) -> None:
        async with AsyncSession(self.engine) as session, session.begin():
            row = await session.scalar(select(MailCursor).where(MailCursor.account == account))
            if row is None:
                row = MailCursor(account=account, uidvalidity=uidvalidity, last_uid=last_uid)
            row.uidvalidity, row.last_uid = uidvalidity, last_uid
            row.updated_at = self.clock.now()
            session.add(row)


class SqlLeadership:
    """Who does a thing only one worker may do (read a mailbox, poll Telegram, sweep)
    when several run: on PostgreSQL the holder of a session advisory lock named after
    it; on SQLite (one process) always us."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[bool]:
        if self.engine.dialect.name != "postgresql":
            yield True
            return
        async with self.engine.connect() as connection:
            key = {"key": f"complaintbot:{name}"}
            taken = bool(
                await connection.scalar(text("SELECT pg_try_advisory_lock(hashtext(:key))"), key)
            )
            await connection.commit()
            try:
                yield taken
            finally:
                if taken:
                    await connection.execute(text("SELECT pg_advisory_unlock(hashtext(:key))"), key)
                    await connection.commit()
