"""The retention sweep's rows: archived cases whose personal data is still kept, oldest
first through `ix_cases_retention`, and the erasure of one of them (`privacy.erase_case`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.ports import DueErasure
from storage.database import READ_ONLY
from storage.models import Case
from storage.privacy import erase_case


class SqlRetention:
    def __init__(self, engine: AsyncEngine, data_dir: Path) -> None:
        self.engine = engine
        self.data_dir = data_dir

    async def archived_before(self, cutoff: datetime, limit: int) -> list[DueErasure]:
        query = (
            select(Case.case_no, Case.archived_at)
            .where(
                Case.erased_at.is_(None),  # type: ignore[union-attr]
                Case.archived_at < cutoff,  # type: ignore[operator]
            )
            .order_by(Case.archived_at, Case.id)
            .limit(limit)
        )
        async with AsyncSession(self.engine.execution_options(**{READ_ONLY: True})) as session:
            rows = (await session.execute(query)).all()
        return [DueErasure(case_no, archived_at) for case_no, archived_at in rows]

    async def erase(self, case_no: str, cutoff: datetime, at: datetime) -> bool:
        return await erase_case(self.engine, self.data_dir, case_no, cutoff, at) is not None
