"""Timers (deadlines, reminders) and satisfaction surveys of cases."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import CaseStatus
from bot.ports import CaseRecord, SurveyRecord, TimerRecord
from storage.models import Case, CaseTimer, OutboxItem, Survey
from storage.records import survey_record
from storage.transaction import SqlTx


async def add_timers(
    session: AsyncSession, case_id: int, timers: list[tuple[str, datetime]]
) -> None:
    """Pending timers (kind, due) of the case, in one statement."""
    if timers:
        rows = [
            {"case_id": case_id, "kind": kind, "due_at": due_at, "status": "pending"}
            for kind, due_at in timers
        ]
        await session.execute(insert(CaseTimer), rows)


class TimerRows(SqlTx):
    """`bot.ports.TimerStore` on SQL."""

    async def set_timers(
        self, case: CaseRecord, timers: list[tuple[str, datetime]], replacing: str | None = None
    ) -> None:
        if replacing is not None:
            await self.session.execute(
                update(CaseTimer)
                .where(
                    CaseTimer.case_id == case.id,
                    CaseTimer.status == "pending",
                    CaseTimer.kind.startswith(replacing),
                )
                .values(status="dropped")
            )
        await add_timers(self.session, case.id, timers)

    async def claim_timer(self, timer_id: int) -> TimerRecord | None:
        query = select(CaseTimer).where(CaseTimer.id == timer_id, CaseTimer.status == "pending")
        if self._postgres:
            query = query.with_for_update(skip_locked=True)
        row = await self.session.scalar(query)
        if row is None:
            return None
        assert row.id is not None
        return TimerRecord(row.id, row.kind, row.due_at)

    async def finish_timer(self, timer: TimerRecord, at: datetime, fired: bool) -> None:
        await self.session.execute(
            update(CaseTimer)
            .where(CaseTimer.id == timer.id)
            .values(status="fired" if fired else "dropped", fired_at=at)
        )

    async def move_timer(self, timer: TimerRecord, due_at: datetime) -> None:
        await self.session.execute(
            update(CaseTimer).where(CaseTimer.id == timer.id).values(due_at=due_at)
        )

    async def timer_pending(self, case: CaseRecord, kind: str) -> bool:
        found = await self.session.scalar(
            select(CaseTimer.id)
            .where(
                CaseTimer.case_id == case.id,
                CaseTimer.kind == kind,
                CaseTimer.status == "pending",
            )
            .limit(1)
        )
        return found is not None

    async def timer_last_finished(self, case: CaseRecord, kind: str) -> datetime | None:
        return await self.session.scalar(
            select(func.max(CaseTimer.fired_at)).where(
                CaseTimer.case_id == case.id,
                CaseTimer.kind == kind,
                CaseTimer.status.in_(("fired", "dropped")),  # type: ignore[attr-defined]
            )
        )

    async def new_survey(self, case: CaseRecord, at: datetime) -> SurveyRecord:
        rounds = await self.session.scalar(
            select(func.count()).select_from(Survey).where(Survey.case_id == case.id)
        )
        row = Survey(case_id=case.id, round=(rounds or 0) + 1, created_at=at)
        self.session.add(row)
        await self.session.flush()
        return survey_record(row)

    async def last_contact(self, case: CaseRecord) -> datetime | None:
        return await self.session.scalar(
            select(func.max(OutboxItem.created_at)).where(
                OutboxItem.case_id == case.id,
                OutboxItem.channel == case.channel,
                OutboxItem.conversation == case.conversation,
            )
        )

    async def latest_survey(self, case: CaseRecord) -> SurveyRecord | None:
        row = await self.session.scalar(
            select(Survey).where(Survey.case_id == case.id).order_by(Survey.id.desc()).limit(1)
        )
        return survey_record(row) if row else None

    async def save_survey(self, case: CaseRecord, survey: SurveyRecord) -> None:
        await self.session.execute(
            update(Survey)
            .where(Survey.id == survey.id)
            .values(
                asked_at=survey.asked_at,
                reminded_at=survey.reminded_at,
                answered_at=survey.answered_at,
                score=survey.score,
                comment=survey.comment,
                outcome=survey.outcome,
            )
        )

    async def case_awaiting_rating(self) -> CaseRecord | None:
        complainant_id = await self._complainant_id(create=False)
        if complainant_id is None:
            return None
        row = await self.session.scalar(
            select(Case)
            .join(Survey, Survey.case_id == Case.id)
            .where(
                Case.complainant_id == complainant_id,
                Case.channel == self.row.channel,
                Case.conversation == self.row.conversation,
                Case.status == CaseStatus.RESOLVED.value,
                Survey.asked_at.is_not(None),
                Survey.answered_at.is_(None),
                Survey.outcome.is_(None),
            )
            .order_by(Survey.asked_at.desc())
            .limit(1)
        )
        return await self._record(row)
