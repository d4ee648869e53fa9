"""Erasing one archived case's personal data (the retention sweep's unit of work):
by the rules of `privacy erase`, once, and only when the case is due."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.router import ComplaintBot
from storage.chain import verify_database
from storage.models import Case, Complainant, Identity, Referral, TimelineEvent
from storage.outbox import SqlOutbox
from storage.privacy import erase_case
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import Chat
from tests.support.clock import FakeClock


async def test_an_archived_case_is_erased_once_and_only_when_due(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, engine: AsyncEngine, tmp_path: Path
) -> None:
    alice = Chat(bot, outbox, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    archived = clock.now()
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            update(Case)
            .where(Case.case_no == case_no)  # type: ignore[arg-type]
            .values(status="archived", archived_at=archived)
        )
        case_id = await session.scalar(select(Case.id).where(Case.case_no == case_no))  # type: ignore[arg-type]
        assert case_id is not None
        session.add(
            Referral(
                case_id=case_id,
                case_no=case_no,
                partner_key="pay",
                asked_at=archived,
                due_at=archived,
                text="Call Alice on +8613812345678 about the charge",
            )
        )
    data = tmp_path / "data"
    now = archived + timedelta(days=31)

    # Archived after the cut-off: not due.
    assert await erase_case(engine, data, case_no, archived, now) is None
    erased = await erase_case(engine, data, case_no, archived + timedelta(seconds=1), now)
    assert erased is not None and erased.cases == [case_no]
    # Done once: a second pass (or another worker) finds nothing to do.
    assert await erase_case(engine, data, case_no, now, now) is None

    async with AsyncSession(engine) as session:
        case = await session.scalar(select(Case).where(Case.case_no == case_no))  # type: ignore[arg-type]
        assert case is not None
        assert (case.contact_name, case.contact_phone, case.contact_email) == (
            "[erased]",
            None,
            None,
        )
        assert case.description == "[erased]"
        (referral,) = (await session.scalars(select(Referral))).all()
        assert (referral.partner_key, referral.text) == ("pay", "[erased]")
        # What the ledger needs stays.
        assert (case.case_no, case.status, case.received_at is not None) == (
            case_no,
            "archived",
            True,
        )
        assert (case.archived_at, case.erased_at) == (archived, now)
        kinds = (
            await session.execute(
                select(TimelineEvent.kind, TimelineEvent.actor).where(
                    TimelineEvent.case_id == case.id
                )
            )
        ).all()
        assert kinds.count(("personal_data_erased", "retention")) == 1
        # Her last case: her record and account go too, as with `privacy erase`.
        (person,) = (await session.scalars(select(Complainant))).all()
        assert (person.phone, person.email) == (None, None)
        assert (await session.scalars(select(Identity))).all() == []
    # Fields are erased through the chain: it still verifies.
    assert (await verify_database(engine, case_no)).intact
