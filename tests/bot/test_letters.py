"""Filing mail without a mail server: corpus mails read by the email channel's parser,
handed to the bot, replies read back through the real outbox and dispatcher."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.agents import Operator
from bot.desk import DeskConfig
from bot.messages import ConversationStyle, Inbound, InboundKind, Outbound
from bot.router import BotConfig, ComplaintBot
from channels.email.inbound import mail_to_inbound
from delivery.dispatcher import Dispatcher
from delivery.sending import Sent
from storage.models import Case
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.channels import mail_corpus as corpus
from tests.support.chat import Chat, RecordingSender
from tests.support.clock import FakeClock
from tests.support.records import Records

USER = "wang@example.cn"
DESK = DeskConfig(channel="test", conversation="agents")
_ids = itertools.count(1)


class MailSender(RecordingSender):
    """Records mail; each gets a Message-ID, as the SMTP sender gives it."""

    async def send(self, outbound: Outbound) -> Sent:
        await super().send(outbound)
        return Sent((f"<out-{len(self.sent)}@corp.example>",))


@dataclass
class Mailbox:
    bot: ComplaintBot
    clock: FakeClock
    mail: MailSender
    desk: RecordingSender
    dispatcher: Dispatcher

    async def receive(self, raw: bytes) -> bool:
        self.clock.advance(seconds=30)
        handled = await self.bot.handle(mail_to_inbound(raw, self.clock.now()))
        while await self.dispatcher.run_once():
            pass
        return handled

    def to(self, address: str) -> list[Outbound]:
        return [o for o in self.mail.sent if o.conversation == address]

    def last_id(self) -> str:
        return f"<out-{len(self.mail.sent)}@corp.example>"

    def desk_texts(self) -> list[str]:
        return [o.text for o in self.desk.sent]


@pytest.fixture
def mailbox(repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock) -> Mailbox:
    bot = ComplaintBot(repository, BotConfig(desk=DESK), clock)
    mail, desk = MailSender(), RecordingSender()
    dispatcher = Dispatcher(outbox, {"email": mail, "test": desk}, clock)
    return Mailbox(bot, clock, mail, desk, dispatcher)


def case_no_in(text: str) -> str:
    return re.search(r"TS-\d{8}-\d{4}", text).group(0)  # type: ignore[union-attr]


async def cases(records: Records) -> list[Case]:
    return await records.cases()


async def events(records: Records, case_no: str) -> list[str]:
    return [e.kind for e in await records.events(case_no)]


def mid() -> str:
    return f"<m{next(_ids)}@example.cn>"


async def filed(mailbox: Mailbox) -> tuple[str, Outbound, str]:
    """A GBK complaint filed by mail: (case number, receipt, the mail's Message-ID)."""
    first = mid()
    await mailbox.receive(corpus.gbk_complaint(message_id=first, sender=USER))
    (receipt,) = mailbox.to(USER)
    return case_no_in(receipt.text), receipt, first


async def test_a_new_mail_is_a_case_at_once_with_a_receipt(
    mailbox: Mailbox, records: Records
) -> None:
    case_no, receipt, first = await filed(mailbox)
    (case,) = await cases(records)
    assert (case.case_no, case.channel, case.conversation) == (case_no, "email", USER)
    assert (case.contact_name, case.contact_email, case.contact_phone) == (
        "王小明",
        USER,
        "+8613812345678",
    )
    assert case.subject == corpus.GBK_SUBJECT
    assert "朱镕基路" in case.description
    assert case.category == "appeal"  # 多扣, 退款
    assert case.expectation == ""  # asked in the receipt
    assert case.locale == "zh_CN"
    assert "期望的处理结果" in receipt.text and case_no in receipt.text
    assert "类型：申诉" in receipt.text
    # The outbox threads it under the complaint and marks it as written by a robot.
    assert receipt.references == (first,) and receipt.subject == corpus.GBK_SUBJECT
    assert receipt.automatic
    (card,) = mailbox.desk_texts()
    assert "王小明" in card and "2" in card  # evidence: the screenshot and the mail itself


async def test_the_answer_to_the_receipt_fills_the_expected_outcome(
    mailbox: Mailbox, records: Records
) -> None:
    case_no, _receipt, first = await filed(mailbox)
    receipt_id = mailbox.last_id()
    await mailbox.receive(
        corpus.gmail_reply(
            "希望退还多扣的30元。",
            sender=USER,
            subject=f"Re: [{case_no}] 话费",
            in_reply_to=receipt_id,
            references=f"{first} {receipt_id}",
            message_id=mid(),
        )
    )
    (case,) = await cases(records)
    assert case.expectation == "希望退还多扣的30元。"
    thanks = mailbox.to(USER)[-1]
    assert case_no in thanks.text and thanks.references[-1] != receipt_id
    # Later mails are added to the case and shown to agents, without an automatic answer.
    await mailbox.receive(
        corpus.apple_mail_reply(
            "补充：上月也被扣了。",
            sender=USER,
            subject=f"Re: [{case_no}] 话费",
            in_reply_to=receipt_id,
            references=receipt_id,
            message_id=mid(),
        )
    )
    assert len(mailbox.to(USER)) == 2
    assert (await cases(records))[0].expectation == "希望退还多扣的30元。"
    assert "补充：上月也被扣了。" in mailbox.desk_texts()[-1]
    assert (await events(records, case_no)).count("complainant_message") == 2


async def test_outlook_reply_without_references_joins_by_the_case_number(
    mailbox: Mailbox, records: Records
) -> None:
    case_no, _receipt, _first = await filed(mailbox)
    await mailbox.receive(
        corpus.outlook_reply(
            "希望退款。", sender=USER, subject=f"答复: [{case_no}]", message_id=mid()
        )
    )
    (case,) = await cases(records)
    assert case.expectation == "希望退款。"


async def test_a_changed_subject_still_joins_by_in_reply_to(
    mailbox: Mailbox, records: Records
) -> None:
    await filed(mailbox)
    receipt_id = mailbox.last_id()
    await mailbox.receive(
        corpus.outlook_reply(
            "退款", sender=USER, subject="新的问题描述", message_id=mid(), in_reply_to=receipt_id
        )
    )
    assert len(await cases(records)) == 1


async def test_a_reply_from_a_second_address_joins_through_references(
    mailbox: Mailbox, records: Records
) -> None:
    _case_no, _receipt, first = await filed(mailbox)
    receipt_id = mailbox.last_id()
    await mailbox.receive(
        corpus.foxmail_reply(
            "这是我的工作邮箱，请回复到这里。",
            sender="wang.work@corp.cn",
            subject="回复：您的投诉",
            in_reply_to=receipt_id,
            references=f"{first} {receipt_id}",
            message_id=mid(),
        )
    )
    assert len(await cases(records)) == 1
    (case,) = await cases(records)
    (message,) = await records.events(case.case_no, "complainant_message")
    payload = message.payload
    assert payload["from"] == "wang.work@corp.cn"


async def test_someone_else_quoting_a_case_number_opens_their_own_case(
    mailbox: Mailbox, records: Records
) -> None:
    case_no, _receipt, _first = await filed(mailbox)
    await mailbox.receive(
        corpus.outlook_reply(
            "我也被扣费了", sender="other@example.cn", subject=f"RE: [{case_no}]", message_id=mid()
        )
    )
    first, second = await cases(records)
    assert first.case_no == case_no and first.expectation == ""
    assert second.conversation == "other@example.cn"
    assert case_no_in(mailbox.to("other@example.cn")[0].text) == second.case_no


async def test_out_of_office_is_filed_on_the_case_and_not_answered(
    mailbox: Mailbox, records: Records
) -> None:
    case_no, _receipt, _first = await filed(mailbox)
    await mailbox.receive(
        corpus.out_of_office(sender=USER, in_reply_to=mailbox.last_id(), message_id=mid())
    )
    assert len(mailbox.to(USER)) == 1
    assert "automatic_mail" in await events(records, case_no)
    assert "自动回复" in mailbox.desk_texts()[-1]
    assert (await cases(records))[0].expectation == ""


async def test_a_bounce_is_attached_to_its_case_and_shown_to_agents(
    mailbox: Mailbox, records: Records
) -> None:
    case_no, _receipt, _first = await filed(mailbox)
    await mailbox.receive(corpus.bounce(original_id=mailbox.last_id(), recipient=USER))
    assert "delivery_bounced" in await events(records, case_no)
    assert "退回" in mailbox.desk_texts()[-1] and "User unknown" in mailbox.desk_texts()[-1]
    assert len(mailbox.mail.sent) == 1


@pytest.mark.parametrize(
    "robot",
    [corpus.mailing_list, corpus.empty_return_path],
    ids=["list", "empty-return-path"],
)
async def test_robots_without_a_case_open_none_and_get_no_answer(
    mailbox: Mailbox, records: Records, robot
) -> None:
    assert await mailbox.receive(robot())
    assert await cases(records) == [] and mailbox.mail.sent == []


async def test_a_loop_is_cut_by_the_hourly_cap(mailbox: Mailbox, records: Records) -> None:
    # A robot without any robot headers, writing new mails (each a little different, so
    # not one mail repeated): cases yes, receipts only five.
    for month in range(1, 8):
        await mailbox.receive(corpus.big5_complaint(message_id=mid(), month=f"{month}月"))
    assert len(await cases(records)) == 7
    assert len(mailbox.to("chan@example.tw")) == 5
    assert "auto_reply_suppressed" in await events(records, (await cases(records))[-1].case_no)
    mailbox.clock.advance(hours=1)
    await mailbox.receive(corpus.big5_complaint(message_id=mid(), month="8月"))
    assert len(mailbox.to("chan@example.tw")) == 6


async def test_the_same_mail_fetched_twice_is_filed_once(
    mailbox: Mailbox, records: Records
) -> None:
    raw = corpus.gbk_complaint(message_id="<twice@example.cn>", sender=USER)
    assert await mailbox.receive(raw)
    assert not await mailbox.receive(raw)
    assert len(await cases(records)) == 1 and len(mailbox.to(USER)) == 1


async def test_a_reply_to_an_archived_case_opens_a_new_one(
    mailbox: Mailbox, engine: AsyncEngine, records: Records
) -> None:
    case_no, _receipt, _first = await filed(mailbox)
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(update(Case).where(Case.case_no == case_no).values(status="archived"))
    await mailbox.receive(
        corpus.outlook_reply(
            "又被扣了",
            sender=USER,
            subject=f"RE: [{case_no}]",
            message_id=mid(),
            in_reply_to=mailbox.last_id(),
        )
    )
    assert len(await cases(records)) == 2


async def test_the_same_person_on_telegram_and_email_is_one_complainant(
    mailbox: Mailbox, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    # On the test chat channel, Alice gives alice@example.com as her contact.
    alice = Chat(mailbox.bot, outbox, clock)
    await play(alice, ENGLISH_INTAKE)
    await mailbox.receive(
        corpus.utf8_rfc2231_complaint().replace(b"alice@gmail.example", b"alice@example.com")
    )
    chat_case, mail_case = await cases(records)
    assert chat_case.complainant_id == mail_case.complainant_id
    (person,) = await records.complainants()
    assert person.id == chat_case.complainant_id
    assert person is not None and person.phone == "+8613812345678"  # kept from the chat
    # A typed address proves nothing: the chat's /status lists only the chat's case.
    (status,) = await alice.say("/status")
    assert chat_case.case_no in status.text and mail_case.case_no not in status.text


async def test_a_mail_with_nul_characters_is_filed_on_every_database(
    mailbox: Mailbox, records: Records
) -> None:
    # PostgreSQL refuses NUL in text; a broken client's mail must not block the mailbox.
    raw = (
        corpus.big5_complaint()
        .replace(b"=A4=E9", b"=00=A4=E9")
        .replace(b"\r\n\r\n", b"\r\n\r\n\x00", 1)
    )
    assert await mailbox.receive(raw)
    (case,) = await cases(records)
    assert "\x00" not in case.description


async def resolved_by_mail(mailbox: Mailbox) -> tuple[str, Outbound, str]:
    """A mailed case, resolved, whose survey mail has gone out: (case, survey, its id)."""
    case_no, _receipt, _first = await filed(mailbox)
    done, answers = await mailbox.bot.operate(
        Operator("li"),
        "resolve",
        case_no,
        "facts=confirmed nature=system_fault responsibility=company severity=minor 已退款。",
    )
    assert done, answers
    mailbox.clock.advance(days=1, seconds=1)
    await mailbox.bot.sweep()
    while await mailbox.dispatcher.run_once():
        pass
    survey = mailbox.to(USER)[-1]
    return case_no, survey, mailbox.last_id()


async def test_a_survey_by_mail_is_answered_with_a_digit_and_a_comment(
    mailbox: Mailbox, records: Records
) -> None:
    case_no, survey, survey_id = await resolved_by_mail(mailbox)
    assert "请回复数字 1 至 5" in survey.text and survey.automatic
    await mailbox.receive(
        corpus.gmail_reply(
            "4\n处理得很快，谢谢。",
            sender=USER,
            subject=f"Re: [{case_no}] 回访",
            in_reply_to=survey_id,
            references=survey_id,
            message_id=mid(),
        )
    )
    (case,) = await cases(records)
    assert case.status == "archived"
    assert "感谢您的评价（4/5）" in mailbox.to(USER)[-1].text
    kinds = await events(records, case_no)
    assert kinds.count("survey_answered") == 1 and kinds.count("survey_comment") == 1
    assert "complainant_message" not in kinds[kinds.index("survey_sent") :]


async def test_a_low_score_by_mail_reopens_the_case(mailbox: Mailbox, records: Records) -> None:
    case_no, _survey, _survey_id = await resolved_by_mail(mailbox)
    # Outlook sends no References: the case number in the subject joins the reply.
    await mailbox.receive(
        corpus.outlook_reply(
            "2",
            sender=USER,
            subject=f"RE: [{case_no}] 回访",
            message_id=mid(),
        )
    )
    (case,) = await cases(records)
    assert (case.status, case.reopened_count) == ("reopened", 1)
    assert "已重新打开" in mailbox.to(USER)[-1].text


async def test_any_channel_that_declares_letters_is_filed_like_mail(
    repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    """A letter is what the channel says it is, not a channel's name: a web form sending
    whole complaints needs nothing in bot/."""
    bot = ComplaintBot(repository, BotConfig(desk=DESK, default_locale="en"), clock)
    form, desk = RecordingSender(), RecordingSender()
    dispatcher = Dispatcher(outbox, {"webform": form, "test": desk}, clock)
    sender = "li.lei@example.cn"
    handled = await bot.handle(
        Inbound(
            channel="webform",
            transport_id="form-1",
            conversation=sender,
            sender_id=sender,
            sender_name="Li Lei",
            received_at=clock.now(),
            kind=InboundKind.TEXT,
            text="I was charged twice for my line in May. Call me on 13812345678.",
            subject="Charged twice",
            style=ConversationStyle.LETTER,
        )
    )
    while await dispatcher.run_once():
        pass
    assert handled
    (case,) = await cases(records)
    assert (case.channel, case.conversation, case.subject) == ("webform", sender, "Charged twice")
    assert (case.contact_name, case.contact_phone) == ("Li Lei", "+8613812345678")
    (receipt,) = form.sent
    assert receipt.text.startswith("Your complaint has been accepted.")
    assert case.case_no in receipt.text and "the outcome you expect" in receipt.text
    assert any(case.case_no in text for text in (o.text for o in desk.sent))


# ----- hostile mail ------------------------------------------------------------------------


async def test_identical_mails_within_minutes_are_one_case_with_one_receipt(
    mailbox: Mailbox, records: Records
) -> None:
    """An auto-responder without robot headers sending the same mail again and again."""
    for _ in range(3):  # 30 s apart
        await mailbox.receive(corpus.big5_complaint(message_id=mid()))
    (case,) = await cases(records)
    assert len(mailbox.to("chan@example.tw")) == 1
    assert (await events(records, case.case_no)).count("repeated_mail") == 2
    inbound = await records.messages("in")
    assert len(inbound) == 3 and {m.case_id for m in inbound} == {case.id}  # all kept
    # The same mail again long after is a new complaint.
    mailbox.clock.advance(minutes=30)
    await mailbox.receive(corpus.big5_complaint(message_id=mid()))
    assert len(await cases(records)) == 2 and len(mailbox.to("chan@example.tw")) == 2


async def test_an_auto_responder_answering_the_receipt_with_its_text_gets_nothing_more(
    mailbox: Mailbox, records: Records
) -> None:
    robot = "office@example.cn"
    await mailbox.receive(corpus.plain(f"Office <{robot}>", mid(), "Hello", "We are closed."))
    (receipt,) = mailbox.to(robot)
    await mailbox.receive(
        corpus.auto_responder_reply(
            sender=robot,
            subject=receipt.subject,
            in_reply_to=mailbox.last_id(),
            text="We are closed.",
            message_id=mid(),
        )
    )
    (case,) = await cases(records)
    assert len(mailbox.to(robot)) == 1
    assert case.expectation == ""  # its text is no answer to the receipt's question
    assert "repeated_mail" in await events(records, case.case_no)
    # A person answering the receipt within minutes is answered as before.
    await mailbox.receive(
        corpus.auto_responder_reply(
            sender=robot,
            subject=receipt.subject,
            in_reply_to=mailbox.last_id(),
            text="A refund.",
            message_id=mid(),
        )
    )
    assert (await cases(records))[0].expectation == "A refund."
    assert len(mailbox.to(robot)) == 2


async def test_a_different_mail_within_minutes_is_its_own_case(
    mailbox: Mailbox, records: Records
) -> None:
    await mailbox.receive(corpus.big5_complaint(message_id=mid(), month="5月"))
    await mailbox.receive(corpus.big5_complaint(message_id=mid(), month="6月"))
    assert len(await cases(records)) == 2 and len(mailbox.to("chan@example.tw")) == 2


async def test_a_header_injection_files_the_real_sender_and_mails_nobody_else(
    mailbox: Mailbox, records: Records
) -> None:
    await mailbox.receive(corpus.injected_from())
    (case,) = await cases(records)
    assert (case.conversation, case.contact_email) == ("mal@evil.example", "mal@evil.example")
    assert [o.conversation for o in mailbox.mail.sent] == ["mal@evil.example"]


async def test_an_address_without_a_domain_files_the_case_sends_nothing_and_tells_agents(
    mailbox: Mailbox, records: Records
) -> None:
    assert await mailbox.receive(corpus.plain('"Mal" <mal>', mid()))
    (case,) = await cases(records)
    assert (case.conversation, case.subject) == ("mal", "Charged twice")
    assert "charged twice" in case.description
    assert mailbox.mail.sent == []
    assert "auto_reply_not_sent" in await events(records, case.case_no)
    card, notice = mailbox.desk_texts()
    assert case.case_no in card
    assert "“mal”" in notice and "没有域名" in notice


async def test_the_address_in_a_display_name_gets_nothing(
    mailbox: Mailbox, records: Records
) -> None:
    """mail-parser's phishing mail: the real sender is a no-reply robot."""
    assert await mailbox.receive(corpus.phishing_display_name())
    assert await cases(records) == [] and mailbox.mail.sent == []


async def test_no_reply_senders_get_nothing(mailbox: Mailbox, records: Records) -> None:
    await mailbox.receive(corpus.plain("Shop <noreply@shop.example>", mid()))
    await mailbox.receive(corpus.plain("<do-not-reply@shop.example>", mid()))
    assert await cases(records) == [] and mailbox.mail.sent == []
