"""The privacy notice (PIPL) as a complainant meets it: in the chat's greeting before the
first question, agreed to on the channel's page (`Inbound.consent`), as a line of the
mail receipt; and on each case's timeline, which version and how. On SQLite,
PostgreSQL and in memory."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.domain import Category, Source
from bot.external import ExternalComplaint
from bot.notice import PrivacyNotice
from bot.router import BotConfig, ComplaintBot
from delivery.dispatcher import Dispatcher
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.bot.test_letters import Mailbox, MailSender, case_no_in, mid
from tests.bot.test_service import CHINESE_INTAKE, ENGLISH_INTAKE, play
from tests.channels import mail_corpus as corpus
from tests.support.chat import Chat, RecordingSender
from tests.support.clock import FakeClock
from tests.support.records import Records

NOTICE = PrivacyNotice(version="2026-11", page="https://corp.example/privacy", retention_days=180)


@pytest.fixture
def noticed(repository: SqlRepository, clock: FakeClock) -> ComplaintBot:
    """A bot whose notice has a version and a page, as `open_core` configures it."""
    return ComplaintBot(repository, BotConfig(privacy=NOTICE), clock)


async def notice_events(records: Records, receipt: str) -> list[dict[str, object]]:
    found = re.search(r"TS-\d{8}-\d{4}", receipt)
    assert found, receipt
    kinds = [e.kind for e in await records.events(found.group(0))]
    # Right after "received": seen before the first question.
    assert kinds[:2] == ["received", "privacy_notice"], kinds
    return [e.payload for e in await records.events(found.group(0), "privacy_notice")]


async def test_the_greeting_shows_the_notice_before_the_first_question_in_one_message(
    noticed: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    chat = Chat(noticed, outbox, clock)
    (reply,) = await chat.say("/start")
    hello, notice, question = reply.text.split("\n\n")
    assert hello.startswith("Hello! This is the complaint service.")
    assert notice.splitlines() == [
        "Privacy: we collect your name, contact details, what happened and your files only "
        "to handle your complaint and to report to the regulator as the law requires.",
        "We keep your case for 180 days after it is closed. Ask us at any time for a copy "
        "of your data, its correction or its erasure.",
        "Full notice: https://corp.example/privacy",
    ]
    assert question.startswith("Please describe what happened")


async def test_a_chinese_greeting_shows_the_notice_in_chinese(
    noticed: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    chat = Chat(noticed, outbox, clock, language_code="zh-hans")
    (reply,) = await chat.say("我的宽带被多扣了钱")
    assert "隐私说明：我们收集您的姓名" in reply.text
    assert "投诉办结后保存 180 天" in reply.text
    assert "完整声明：https://corp.example/privacy" in reply.text
    assert reply.text.index("完整声明") < reply.text.index("已记录")


async def test_a_chat_case_records_the_version_shown_not_agreed(
    noticed: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    chat = Chat(noticed, outbox, clock, language_code="zh-hans")
    receipt = await play(chat, CHINESE_INTAKE)
    assert await notice_events(records, receipt) == [
        {"version": "2026-11", "agreed": False, "how": "shown_in_chat"}
    ]


async def test_a_case_filed_with_consent_records_the_version_agreed_to(
    noticed: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    # The web chat asks first: every message carries the version the person agreed to.
    chat = Chat(noticed, outbox, clock, consent="2026-10")
    first_message_at = clock.now() + timedelta(seconds=5)
    receipt = await play(chat, ENGLISH_INTAKE)
    assert await notice_events(records, receipt) == [
        {"version": "2026-10", "agreed": True, "how": "agreed_on_web"}
    ]
    case_no = case_no_in(receipt)
    (event,) = await records.events(case_no, "privacy_notice")
    assert event.at == first_message_at  # agreed before the first message


async def test_consent_given_during_the_intake_is_remembered_until_the_case_opens(
    noticed: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    chat = Chat(noticed, outbox, clock)
    await chat.say(ENGLISH_INTAKE[0][1])
    chat.consent = "2026-11"  # agreed on the page now; later messages carry it
    await chat.press("Continue")
    chat.consent = None
    receipt = await play(chat, ENGLISH_INTAKE[3:])
    assert await notice_events(records, receipt) == [
        {"version": "2026-11", "agreed": True, "how": "agreed_on_web"}
    ]


async def test_a_mail_receipt_carries_the_notice_and_the_case_records_it(
    repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    bot = ComplaintBot(repository, BotConfig(privacy=NOTICE), clock)
    mail, desk = MailSender(), RecordingSender()
    mailbox = Mailbox(bot, clock, mail, desk, Dispatcher(outbox, {"email": mail}, clock))
    await mailbox.receive(corpus.gbk_complaint(message_id=mid(), sender="wang@example.cn"))
    (receipt,) = mailbox.to("wang@example.cn")
    assert receipt.text.splitlines()[-1] == (
        "您的个人信息仅用于处理您的投诉；您可随时要求查阅、更正或删除。"
        "隐私声明：https://corp.example/privacy"
    )
    case_no = case_no_in(receipt.text)
    (event,) = await records.events(case_no, "privacy_notice")
    assert event.payload == {"version": "2026-11", "agreed": False, "how": "mail_receipt"}
    case = await records.case(case_no)
    assert event.at == case.created_at  # given with the receipt


async def test_a_case_entered_by_staff_says_the_notice_was_not_shown(
    noticed: ComplaintBot, clock: FakeClock, records: Records
) -> None:
    entered = await noticed.open_external(
        ExternalComplaint(
            source=Source.PHONE,
            category=Category.APPEAL,
            name="王芳",
            phone="13800138000",
            email=None,
            subject="某某通信",
            description="多扣了话费",
            expectation="退款",
            received_at=clock.now() - timedelta(hours=1),
        )
    )
    (event,) = await records.events(entered.case_no, "privacy_notice")
    assert event.payload == {"version": "2026-11", "agreed": False, "how": "entered_by_staff"}
