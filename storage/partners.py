"""The partner directory (who a case can be referred to) and the referrals made.

The directory is kept by operators from the CLI; the desk reads it inside a case's
transaction (`PartnerRows`) to refer a case and record the referral.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.ports import CaseRecord, PartnerRecord, ReferralRecord
from storage.models import Partner, Referral
from storage.transaction import SqlTx


class DuplicatePartner(Exception):
    """A partner with this key is already in the directory."""


@dataclass(frozen=True, slots=True)
class PartnerRow:
    key: str
    name: str
    email: str
    sla: str | None
    disabled: bool
    created_at: datetime


def _row(partner: Partner) -> PartnerRow:
    return PartnerRow(
        partner.key,
        partner.name,
        partner.email,
        partner.sla,
        partner.disabled,
        partner.created_at,
    )


def _partner(row: Partner) -> PartnerRecord:
    return PartnerRecord(row.key, row.name, row.email, row.sla, row.disabled)


async def add_partner(
    engine: AsyncEngine, key: str, name: str, email: str, sla: str | None, at: datetime
) -> PartnerRow:
    """Adds a partner; `DuplicatePartner` when the key is taken (disabled ones too)."""
    partner = Partner(key=key, name=name, email=email, sla=sla, created_at=at)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            session.add(partner)
    except IntegrityError:
        raise DuplicatePartner(key) from None
    return _row(partner)


async def list_partners(engine: AsyncEngine) -> list[PartnerRow]:
    """Every partner, disabled ones included, by key."""
    async with AsyncSession(engine) as session:
        rows = await session.scalars(select(Partner).order_by(Partner.key))
        return [_row(p) for p in rows.all()]


async def disable_partner(engine: AsyncEngine, key: str) -> bool:
    """False when no partner has this key. Referrals made before stay as they were."""
    async with AsyncSession(engine) as session, session.begin():
        result = await session.execute(
            update(Partner).where(Partner.key == key).values(disabled=True)  # type: ignore[arg-type]
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def case_referrals(session: AsyncSession, case_id: int) -> list[ReferralRecord]:
    rows = await session.scalars(
        select(Referral).where(Referral.case_id == case_id).order_by(Referral.id)  # type: ignore[arg-type]
    )
    return [
        ReferralRecord(
            partner=r.partner_key,
            asked_at=r.asked_at,
            due_at=r.due_at,
            answered_at=r.answered_at,
            text=r.text,
            share_contact=r.share_contact,
            message_id=r.message_id,
            id=r.id,
        )
        for r in rows.all()
    ]


class PartnerRows(SqlTx):
    """`bot.ports.PartnerStore` on SQL."""

    async def partner(self, key: str) -> PartnerRecord | None:
        row = await self.session.scalar(select(Partner).where(Partner.key == key))
        return None if row is None else _partner(row)

    async def partners_at(self, address: str) -> list[PartnerRecord]:
        rows = await self.session.scalars(
            select(Partner)
            .where(func.lower(Partner.email) == address.strip().lower())
            .order_by(Partner.key)  # type: ignore[arg-type]
        )
        return [_partner(p) for p in rows.all()]

    async def referral_answered(self, referral_id: int, at: datetime) -> None:
        await self.session.execute(
            update(Referral)
            .where(Referral.id == referral_id, Referral.answered_at.is_(None))  # type: ignore[arg-type,union-attr]
            .values(answered_at=at)
        )

    async def add_referral(
        self, case: CaseRecord, referral: ReferralRecord, asked_by: int | None
    ) -> int:
        row = Referral(
            case_id=case.id,
            case_no=case.case_no,
            partner_key=referral.partner,
            asked_at=referral.asked_at,
            due_at=referral.due_at,
            text=referral.text,
            share_contact=referral.share_contact,
            asked_by=asked_by,
        )
        self.session.add(row)
        await self.session.flush()
        assert row.id is not None
        return row.id

    async def referrals(self, case: CaseRecord) -> list[ReferralRecord]:
        return await case_referrals(self.session, case.id)
