"""Referrals of cases to partners, stored directly (as the desk's /refer stores them and a
partner's answer completes them), for the tests of what reads them: `cases show --json`,
the ledger and the quality report."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from storage.models import Case, Partner, Referral


async def refer(
    engine: AsyncEngine,
    case_no: str,
    partner: str,
    asked_at: datetime,
    due_at: datetime,
    answered_at: datetime | None = None,
) -> None:
    """Stores a referral of the case `case_no` to `partner` (added to the directory if
    it is not in it yet), answered at `answered_at` (None: not answered)."""
    async with AsyncSession(engine) as session, session.begin():
        case = (await session.scalars(select(Case).where(Case.case_no == case_no))).one()
        known = await session.scalar(select(Partner.id).where(Partner.key == partner))
        if known is None:
            session.add(
                Partner(
                    key=partner,
                    name=f"{partner} Ltd",
                    email=f"cases@{partner}.example",
                    created_at=asked_at,
                )
            )
        assert case.id is not None
        session.add(
            Referral(
                case_id=case.id,
                case_no=case_no,
                partner_key=partner,
                asked_at=asked_at,
                due_at=due_at,
                answered_at=answered_at,
                text="Please check this charge.",
            )
        )
