"""The status page's codes on SQL, without a server: what is stored (the hash, never the
code), the mail that carries the code, and what erasing the case's personal data leaves."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.router import ComplaintBot
from bot.status_codes import CodeAnswer, StatusCodes
from storage.models import Case, OutboxItem, StatusCode
from storage.outbox import SqlOutbox
from storage.privacy import erase_case
from storage.status_codes import SqlStatusCodes
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import Chat
from tests.support.clock import FakeClock


async def _code_mails(engine: AsyncEngine) -> list[OutboxItem]:
    async with AsyncSession(engine) as session:
        query = select(OutboxItem).where(OutboxItem.kind == "status_code").order_by(OutboxItem.id)  # type: ignore[arg-type]
        return list((await session.scalars(query)).all())


async def test_a_code_is_mailed_stored_as_a_hash_and_forgotten_with_the_case(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, engine: AsyncEngine, tmp_path: Path
) -> None:
    receipt = await play(Chat(bot, outbox, clock), ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    codes = StatusCodes(SqlStatusCodes(engine), phone_region="CN", mail_channel="email")

    # By the phone, typed as people type it: the code goes to the case's email.
    answer = await codes.ask_status_code(case_no.lower(), "138 1234 5678", clock.now())
    assert answer is CodeAnswer.SENT
    (mail,) = await _code_mails(engine)
    assert (mail.channel, mail.conversation) == ("email", "alice@example.com")
    assert mail.payload["subject"] == f"Your code for case {case_no}"
    assert "expires in 10 minutes" in mail.payload["text"]
    code = re.search(r"\b(\d{6})\b", mail.payload["text"]).group(1)  # type: ignore[union-attr]
    async with AsyncSession(engine) as session:
        (stored,) = (await session.scalars(select(StatusCode))).all()
    assert code not in stored.code_hash and stored.address == "alice@example.com"
    assert stored.expires_at == clock.now() + timedelta(minutes=10)

    # Another contact: no code; mail off: the page is told so.
    assert await codes.ask_status_code(case_no, "bob@example.com", clock.now()) is CodeAnswer.SENT
    assert len(await _code_mails(engine)) == 1
    off = StatusCodes(SqlStatusCodes(engine), phone_region="CN", mail_channel=None)
    assert await off.ask_status_code(case_no, "13812345678", clock.now()) is CodeAnswer.MAIL_OFF

    shown = await codes.check_status_code(case_no, code, clock.now())
    assert shown is not None and shown.case.case_no == case_no
    assert [entry.kind for entry in shown.story][:1] == ["received"]
    assert await codes.check_status_code(case_no, code, clock.now()) is None  # once only

    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            update(Case)
            .where(Case.case_no == case_no)  # type: ignore[arg-type]
            .values(status="archived", archived_at=clock.now())
        )
    later = clock.now() + timedelta(days=1)
    assert await erase_case(engine, tmp_path / "data", case_no, later, later) is not None
    async with AsyncSession(engine) as session:
        assert (await session.scalars(select(StatusCode))).all() == []
    (erased,) = await _code_mails(engine)
    assert erased.conversation == "[erased]" and code not in str(erased.payload)
