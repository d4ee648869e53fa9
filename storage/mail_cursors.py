"""The IMAP poller's place in each mailbox: (UIDVALIDITY, highest UID handled)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.models import MailCursor


class SqlMailCursors:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

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
            row.updated_at = datetime.now(UTC)
            session.add(row)
