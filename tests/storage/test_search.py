"""Finding cases for staff (`storage.search.find_cases`): Chinese and English text, the
filters, paging and the deadline order, kept current as cases change."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.domain import Category
from bot.ports import NewCase
from bot.router import ComplaintBot
from storage.models import Agent, Case
from storage.outbox import SqlOutbox
from storage.privacy import Contact, erase
from storage.repository import SqlRepository
from storage.search import CaseFilter, find_cases
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import Chat
from tests.support.clock import FakeClock

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_chats = itertools.count(1)


async def _file(
    engine: AsyncEngine,
    tmp_path: Path,
    *,
    description: str = "话费问题",
    name: str = "王五",
    phone: str | None = None,
    email: str | None = None,
    subject: str = "某某通信公司",
    received_at: datetime = T0,
    response_due_at: datetime | None = None,
    channel: str = "telegram",
    category: Category = Category.APPEAL,
    **changes: Any,
) -> str:
    """Files a case through the bot's storage port; `changes` are then set on its row
    (status, handler_id, first_response_at, ...)."""
    chat = str(next(_chats))
    repository = SqlRepository(engine, tmp_path / "data")
    async with repository.conversation(channel, chat, chat) as tx:
        case_no = await tx.create_case(
            NewCase(
                prefix="TS",
                number_day=date(2026, 11, 2),
                channel=channel,
                conversation=chat,
                locale="zh_CN",
                name=name,
                phone=phone,
                email=email,
                category=category,
                subject=subject,
                description=description,
                expectation="请处理",
                evidence=(),
                description_edits=(),
                received_at=received_at,
                created_at=received_at,
                response_due_at=response_due_at or received_at + timedelta(days=1),
                resolution_due_at=received_at + timedelta(days=10),
            )
        )
    if changes:
        async with AsyncSession(engine) as session, session.begin():
            await session.execute(update(Case).where(Case.case_no == case_no).values(**changes))  # type: ignore[arg-type]
    return case_no


async def _found(engine: AsyncEngine, now: datetime = T0, **where: Any) -> list[str]:
    page = await find_cases(engine, CaseFilter(**where), now=now)
    return [row.case_no for row in page.rows]


async def test_a_chinese_word_finds_its_cases_only(engine: AsyncEngine, tmp_path: Path) -> None:
    refund = await _file(engine, tmp_path, description="上月被多扣了话费，要求退款。")
    apart = await _file(engine, tmp_path, description="退订以后仍然扣款")
    other = await _file(engine, tmp_path, description="网速很慢")

    assert await _found(engine, text="退款") == [refund]
    assert sorted(await _found(engine, text="退")) == sorted([refund, apart])
    assert await _found(engine, text="多扣了话费") == [refund]
    assert await _found(engine, text="网速 慢") == [other]
    assert await _found(engine, text="退款 网速") == []
    # The company complained about (the subject) and the name are found too.
    assert len(await _found(engine, text="某某通信")) == 3
    assert len(await _found(engine, text="王五")) == 3


async def test_english_contacts_and_case_numbers_are_found(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    alice = await _file(
        engine,
        tmp_path,
        description="I was CHARGED twice for roaming.",
        name="Alice Wang",
        phone="+8613812345678",
        email="Alice.Wang@Example.com",
    )
    bob = await _file(engine, tmp_path, description="No signal at home", phone="13900001111")

    assert await _found(engine, text="charged") == [alice]
    assert await _found(engine, text="Roaming ALICE") == [alice]
    assert await _found(engine, text="13812345678") == [alice]
    assert await _found(engine, text="+86 13812345678") == [alice]
    assert await _found(engine, text="alice.wang@example.com") == [alice]
    assert await _found(engine, text="example") == [alice]
    assert await _found(engine, text="13900001111") == [bob]
    assert await _found(engine, text=bob) == [bob]
    # The number as people type it: without the first dash, or by its serial alone.
    assert await _found(engine, text=bob.replace("-", "", 1)) == [bob]
    assert await _found(engine, text=bob.rsplit("-", 1)[1]) == [bob]
    assert await _found(engine, text="refund") == []
    assert sorted(await _found(engine, text="  ")) == sorted([alice, bob])


async def test_filters(engine: AsyncEngine, tmp_path: Path) -> None:
    async with AsyncSession(engine) as session, session.begin():
        session.add(Agent(id=7, channel="telegram", external_id="7", name="李雷", created_at=T0))
    handled = await _file(engine, tmp_path, handler_id=7, status="in_progress")
    mailed = await _file(
        engine,
        tmp_path,
        channel="email",
        category=Category.CONSULTATION,
        received_at=T0 + timedelta(days=1),
    )
    late = await _file(engine, tmp_path, response_due_at=T0 + timedelta(hours=1))

    now = T0 + timedelta(hours=2)
    assert await _found(engine, now, status="in_progress") == [handled]
    assert await _found(engine, now, handler="李雷") == [handled]
    assert await _found(engine, now, channel="email") == [mailed]
    assert await _found(engine, now, category="consultation") == [mailed]
    assert await _found(engine, now, overdue=True) == [late]
    assert await _found(engine, now, received_from=T0 + timedelta(days=1)) == [mailed]
    assert await _found(engine, now, received_to=T0 + timedelta(days=1)) == [handled, late][::-1]
    assert await _found(engine, now, text="话费", status="in_progress") == [handled]
    assert await _found(engine, now, text="话费", status="resolved") == []


async def test_pages_in_deadline_order(engine: AsyncEngine, tmp_path: Path) -> None:
    day = timedelta(days=1)
    resolved = await _file(engine, tmp_path, status="resolved", resolved_at=T0)
    answered = await _file(  # answered: its resolution is due in ten days
        engine, tmp_path, first_response_at=T0, received_at=T0 - 2 * day
    )
    soon = await _file(engine, tmp_path, response_due_at=T0 + day)
    overdue = await _file(engine, tmp_path, response_due_at=T0 - day)
    older_resolved = await _file(
        engine, tmp_path, status="archived", received_at=T0 - day, resolved_at=T0
    )
    order = [overdue, soon, answered, resolved, older_resolved]

    first = await find_cases(engine, CaseFilter(), now=T0, page=1, per_page=2)
    assert [r.case_no for r in first.rows] == order[:2]
    assert (first.total, first.page, first.per_page) == (5, 1, 2)
    assert [(r.overdue, r.due_at) for r in first.rows] == [
        (True, T0 - day),
        (False, T0 + day),
    ]
    last = await find_cases(engine, CaseFilter(), now=T0, page=3, per_page=2)
    assert [r.case_no for r in last.rows] == order[4:]
    assert (last.rows[0].due_at, last.rows[0].overdue, last.total) == (None, False, 5)
    middle = await find_cases(engine, CaseFilter(), now=T0, page=2, per_page=2)
    assert [r.case_no for r in middle.rows] == order[2:4]
    assert middle.rows[0].due_at == T0 - 2 * day + 10 * day
    none = await find_cases(engine, CaseFilter(text="没有这个词"), now=T0)
    assert (none.rows, none.total) == ([], 0)


async def test_later_messages_are_found_and_erased_data_is_not(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, engine: AsyncEngine, tmp_path: Path
) -> None:
    alice = Chat(bot, outbox, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    now = clock.now()
    assert await _found(engine, now, text="last month's bill") == [case_no]
    assert await _found(engine, now, text="京B2-20260001") == [case_no]
    assert await _found(engine, now, text="voicemail") == []

    replies = await alice.say("They also charged my voicemail")
    assert "Added to your case" in " ".join(r.text or "" for r in replies)
    assert await _found(engine, now, text="voicemail") == [case_no]
    # What the bot sent on the case is found as well.
    assert await _found(engine, now, text="accepted") == [case_no]

    assert await erase(engine, tmp_path / "data", Contact(email="alice@example.com"), now)
    for erased in ("Alice", "13812345678", "alice@example.com", "charged", "voicemail"):
        assert await _found(engine, now, text=erased) == [], erased
    # The case itself stays listed, by its number and the company.
    assert await _found(engine, now, text=case_no) == [case_no]
    async with AsyncSession(engine) as session:
        assert await session.scalar(select(Case.contact_name)) == "[erased]"


async def test_a_changed_expectation_is_found_after_the_case_is_saved(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    case_no = await _file(engine, tmp_path)
    assert await _found(engine, text="赔偿") == []
    repository = SqlRepository(engine, tmp_path / "data")
    async with repository.conversation("telegram", "x", "x") as tx:
        case = await tx.case(case_no)
        assert case is not None
        await tx.save_case(replace(case, expectation="退还话费并赔偿"))
    assert await _found(engine, text="赔偿") == [case_no]
