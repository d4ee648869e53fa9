"""Referring a case to a partner from the agents' group: the partner's mail, their
answer by mail, the reminder, the missed deadline, and what agents are told."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.desk import DeskConfig
from bot.followup import FollowUpConfig
from bot.messages import Attachment, InboundKind, Outbound
from bot.router import BotConfig, ComplaintBot
from channels.email.inbound import mail_to_inbound
from delivery.dispatcher import Dispatcher
from scheduler.sla import load_policy
from storage.models import Case
from storage.outbox import SqlOutbox
from storage.partners import add_partner, disable_partner
from storage.repository import SqlRepository
from tests.bot.test_letters import MailSender
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.channels import mail_corpus as corpus
from tests.support.chat import AgentsGroup, Chat, texts
from tests.support.clock import FakeClock
from tests.support.records import Records

DESK = DeskConfig(
    channel="test",
    conversation="agents",
    agent_ids=frozenset({"li", "wang"}),
    supervisor_ids=frozenset({"boss"}),
)
PAY = "refunds@payco.example"
ISP = "noc@isp.example"
_ids = itertools.count(1)
_PARTNERS = re.compile("PayCo|Net ISP")

pytestmark = pytest.mark.usefixtures("sql_only")


@pytest.fixture
def sql_only(backend: str) -> None:
    if backend == "memory":
        pytest.skip("the partner directory is kept in the database")


@dataclass
class Desk:
    bot: ComplaintBot
    clock: FakeClock
    alice: Chat
    group: AgentsGroup
    mail: MailSender
    case_no: str
    thread: str
    outbox: SqlOutbox

    async def refer(self, text: str, agent: str = "li") -> list[Outbound]:
        return await self.group.say(agent, text, self.thread)

    def to(self, address: str) -> list[Outbound]:
        return [o for o in self.mail.sent if o.conversation == address]

    def message_id(self, outbound: Outbound) -> str:
        """The Message-ID the mail got (as `MailSender` numbers them)."""
        return f"<out-{self.mail.sent.index(outbound) + 1}@corp.example>"

    async def partner_writes(self, sender: str, text: str, **mail: str) -> list[Outbound]:
        before = len(self.group.posts()), len(self.mail.sent)
        self.clock.advance(minutes=1)
        message_id = f"<p{next(_ids)}@partner.example>"
        if "references" in mail:
            raw = corpus.gmail_reply(text, sender=sender, message_id=message_id, **mail)
        else:  # a client that threads by nothing but the subject
            raw = corpus.outlook_reply(
                text, sender=sender, subject=mail["subject"], message_id=message_id
            )
        await self.bot.handle(mail_to_inbound(raw, self.clock.now()))
        await self.alice.deliver_pending()
        assert self.mail.sent[before[1] :] == [], "nothing is mailed back to a partner"
        return self.group.posts()[before[0] :]

    async def sweep(self, **advance: float) -> list[Outbound]:
        """What the timers due after `advance` sent about partners (the case's own
        reminders aside)."""
        before = len(self.alice.sender.sent), len(self.mail.sent)
        self.clock.advance(**advance)
        await self.bot.sweep()
        await self.alice.deliver_pending()
        sent = self.alice.sender.sent[before[0] :] + self.mail.sent[before[1] :]
        return [o for o in sent if o.conversation in (PAY, ISP) or _PARTNERS.search(o.text)]


@pytest.fixture
def followup(request: pytest.FixtureRequest, tmp_path: Path) -> FollowUpConfig:
    """The default policy; or with one of its switches turned on (`indirect`)."""
    switch = getattr(request, "param", None)
    if switch is None:
        return FollowUpConfig()
    policy = tmp_path / "sla.toml"
    policy.write_text(f"[default]\n{switch} = true\n", encoding="utf-8")
    return FollowUpConfig(policy=load_policy(policy))


@pytest.fixture
async def desk(
    repository: SqlRepository,
    outbox: SqlOutbox,
    clock: FakeClock,
    engine: AsyncEngine,
    followup: FollowUpConfig,
) -> Desk:
    await add_partner(engine, "pay", "PayCo", PAY, "2wd", clock.now())
    await add_partner(engine, "isp", "Net ISP", ISP, None, clock.now())
    config = BotConfig(desk=DESK, default_locale="en", mail_channel="email", followup=followup)
    bot = ComplaintBot(repository, config, clock)
    alice = Chat(bot, outbox, clock)
    mail = MailSender()
    alice.dispatcher = Dispatcher(outbox, {"test": alice.sender, "email": mail}, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    group = AgentsGroup(alice)
    return Desk(bot, clock, alice, group, mail, case_no, group.thread_of(case_no), outbox)


async def kinds(records: Records, case_no: str) -> list[str]:
    return [e.kind for e in await records.events(case_no)]


async def test_the_partner_gets_a_mail_of_its_own_without_the_complainants_contact(
    desk: Desk, records: Records
) -> None:
    posted = await desk.refer("/refer pay Was order 8812 charged twice on 1 November?")

    (request,) = desk.to(PAY)
    assert request.subject == f"[{desk.case_no}] Request for investigation"
    assert request.references == () and not request.automatic  # a person's request
    assert "Dear PayCo," in request.text
    assert "Was order 8812 charged twice on 1 November?" in request.text
    assert "within 2 working days" in request.text
    for private in ("Alice Wang", "+8613812345678", "alice@example.com"):
        assert private not in request.text
    assert f"referred {desk.case_no} to PayCo; answer due" in texts(posted)
    (referred,) = await records.events(desk.case_no, "referred")
    assert referred.actor.startswith("agent:")
    assert referred.payload["partner"] == "pay" and referred.payload["within"] == "2wd"
    assert referred.payload["contact_shared"] is False
    case = await records.case(desk.case_no)
    assert case.status == "acknowledged"  # the case keeps its status
    assert desk.alice.mine()[-1].text != request.text  # the complainant is not written to


async def test_contact_shares_the_complainants_contact_and_a_duration_overrides_the_sla(
    desk: Desk,
) -> None:
    await desk.refer("/refer isp 4h contact Line down at the complainant's address?")
    (request,) = desk.to(ISP)
    assert "within 4 hours" in request.text
    assert "The complainant: Alice Wang" in request.text
    assert "Phone: +8613812345678" in request.text
    assert "Line down at the complainant's address?" in request.text
    assert not request.text.startswith("contact")


async def test_the_partners_answer_joins_the_case_and_is_shown_in_its_thread(
    desk: Desk, records: Records
) -> None:
    await desk.refer("/refer pay Was order 8812 charged twice?")
    (request,) = desk.to(PAY)
    asked = desk.message_id(request)

    posted = await desk.partner_writes(
        PAY,
        "Yes, charged twice; refunded today.",
        subject=f"Re: {request.subject}",
        in_reply_to=asked,
        references=asked,
    )

    (shown,) = posted
    assert shown.thread == desk.thread
    assert f"PayCo answered on {desk.case_no}:" in shown.text
    assert "Yes, charged twice; refunded today." in shown.text
    (answered,) = await records.events(desk.case_no, "partner_answered")
    assert answered.actor == "partner:pay" and answered.payload["outcome"] == "answered"
    assert len(await records.cases()) == 1  # no case opened for the partner

    # A second letter is kept as the partner's message, and the wait stays ended.
    await desk.partner_writes(PAY, "Refund reference R-77.", subject=f"Re: {request.subject}")
    assert "partner_message" in await kinds(records, desk.case_no)
    assert await desk.sweep(days=5) == []  # no reminder, no missed deadline


async def test_a_reminder_once_at_80_percent_then_the_thread_handler_and_supervisors(
    desk: Desk, records: Records
) -> None:
    await desk.refer("/refer pay Was order 8812 charged twice?")
    (request,) = desk.to(PAY)

    # 2 working days on a round-the-clock calendar: 48 hours, reminded at 38.4.
    assert await desk.sweep(hours=38) == []
    (reminder,) = await desk.sweep(hours=0.5)
    assert reminder.conversation == PAY and not reminder.automatic
    assert reminder.subject == request.subject
    assert reminder.references == (desk.message_id(request),)  # in the request's thread
    assert "A reminder:" in reminder.text and "Was order 8812 charged twice?" in reminder.text
    assert await desk.sweep(hours=9) == []  # reminded once

    told = await desk.sweep(hours=1)
    in_thread = [o for o in told if o.conversation == "agents"]
    to_li = [o for o in told if o.conversation == "li"]
    to_boss = [o for o in told if o.conversation == "boss"]
    assert "PayCo did not answer on" in texts(in_thread)
    assert "PayCo did not answer on" in texts(to_li)  # the handler, who referred it
    assert "PayCo has not answered on" in texts(to_boss)
    assert [e.kind for e in await records.events(desk.case_no) if "partner" in e.kind] == [
        "partner_reminded",
        "partner_deadline_missed",
        "partner_escalated",
    ]

    # A late answer still joins, marked late.
    (request,) = desk.to(PAY)[:1]
    posted = await desk.partner_writes(
        PAY, "Sorry for the delay: refunded.", subject=f"Re: {request.subject}"
    )
    assert "(after their deadline)" in texts(posted)
    (answered,) = await records.events(desk.case_no, "partner_answered")
    assert answered.payload["outcome"] == "answered_late"


async def test_two_partners_on_one_case_each_keep_their_own_state(
    desk: Desk, records: Records
) -> None:
    await desk.refer("/refer pay 1d Charged twice?")
    await desk.refer("/refer isp 2d Was the line down?")
    (pay_request,) = desk.to(PAY)
    await desk.partner_writes(PAY, "Refunded.", subject=f"Re: {pay_request.subject}")

    told = await desk.sweep(days=2, hours=1)
    assert "Net ISP did not answer on" in texts(told)
    assert "PayCo" not in texts(told)
    missed = await records.events(desk.case_no, "partner_deadline_missed")
    assert [e.payload["partner"] for e in missed] == ["isp"]


async def test_a_partner_quoting_another_cases_number_reaches_nothing(
    desk: Desk, records: Records
) -> None:
    bob = Chat(desk.bot, desk.outbox, desk.clock, desk.alice.sender, user="1002")
    bob.dispatcher = desk.alice.dispatcher
    other = re.search(r"TS-\d{8}-\d{4}", await play(bob, ENGLISH_INTAKE)).group(0)  # type: ignore[union-attr]
    await desk.refer("/refer pay Charged twice?")

    posted = await desk.partner_writes(PAY, "About your other case.", subject=f"Re: [{other}]")

    (shown,) = posted
    assert shown.thread is None and shown.case_no is None  # the group itself
    assert "matches no referral" in shown.text and "About your other case." in shown.text
    assert "partner_answered" not in await kinds(records, other)
    assert "partner_answered" not in await kinds(records, desk.case_no)
    assert len(await records.cases()) == 2


async def test_an_answer_after_the_case_was_resolved_is_kept_and_agents_told(
    desk: Desk, records: Records
) -> None:
    await desk.refer("/refer pay Charged twice?")
    (request,) = desk.to(PAY)
    await desk.group.say("li", "/resolve Refunded.", desk.thread)
    for label in ("Facts confirmed", "System fault", "Company responsible", "Minor"):
        await desk.group.press("li", label)
    await desk.group.press("li", "Confirm and resolve")
    assert (await records.case(desk.case_no)).status == "resolved"

    posted = await desk.partner_writes(PAY, "Refunded on our side.", subject=request.subject)

    assert f"{desk.case_no} is resolved; the answer is kept on it." in texts(posted)
    assert "partner_answered" in await kinds(records, desk.case_no)


async def test_files_sent_with_the_command_go_to_the_partner(desk: Desk) -> None:
    screenshot = Attachment("bill.png", "image/png", b"\x89PNG bill", 9)
    await desk.group.deliver(
        desk.group.inbound(
            "li",
            InboundKind.COMMAND,
            command="refer",
            command_args="pay Charged twice, see the bill",
            text="/refer pay Charged twice, see the bill",
            attachments=(screenshot,),
            thread_id=desk.thread,
        )
    )
    (request,) = desk.to(PAY)
    assert [(f.name, f.data) for f in request.files] == [("bill.png", b"\x89PNG bill")]
    assert "1 file is attached." in request.text
    assert desk.alice.mine()[-1].files == ()  # not forwarded to the complainant


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/refer", "Write the partner and the question"),
        ("/refer bank Charged twice?", "No partner “bank”"),
        ("/refer pay 2x Charged twice?", "“2x” is not a duration"),
        ("/refer pay", "Write what the partner should investigate"),
        ("/refer pay contact", "Write what the partner should investigate"),
    ],
)
async def test_bad_referrals_get_one_clear_answer_and_send_nothing(
    desk: Desk, records: Records, command: str, answer: str
) -> None:
    posted = await desk.refer(command)
    assert answer in texts(posted)
    assert desk.mail.sent == []
    assert "referred" not in await kinds(records, desk.case_no)


async def test_a_disabled_partner_is_refused(desk: Desk, engine: AsyncEngine) -> None:
    await disable_partner(engine, "pay")
    posted = await desk.refer("/refer pay Charged twice?")
    assert "The partner pay is disabled." in texts(posted)
    assert desk.mail.sent == []


@pytest.mark.parametrize("followup", ["pause_while_awaiting_partner"], indirect=True)
async def test_where_the_policy_says_so_the_resolution_clock_waits_for_the_partner(
    desk: Desk, records: Records
) -> None:
    before = (await records.case(desk.case_no)).resolution_due_at
    await desk.refer("/refer pay Charged twice?")
    (request,) = desk.to(PAY)
    desk.clock.advance(hours=10)
    await desk.partner_writes(PAY, "Refunded.", subject=request.subject)

    case = await records.case(desk.case_no)
    (resumed,) = await records.events(desk.case_no, "clock_resumed")
    assert resumed.payload["paused_for"].startswith("10h")
    assert before is not None and case.resolution_due_at - before > timedelta(hours=10)
    assert case.clock_paused_at is None


async def test_an_archived_case_is_not_referred(desk: Desk, engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, session.begin():
        await session.execute(
            update(Case).where(Case.case_no == desk.case_no).values(status="archived")  # type: ignore[arg-type]
        )
    posted = await desk.refer("/refer pay Charged twice?")
    assert f"{desk.case_no} is archived; it cannot be referred." in texts(posted)
    assert desk.mail.sent == []


async def test_a_partner_without_a_mail_address_is_refused(
    desk: Desk, engine: AsyncEngine, clock: FakeClock
) -> None:
    await add_partner(engine, "legacy", "Legacy Co", "fax-only", None, clock.now())
    posted = await desk.refer("/refer legacy Charged twice?")
    assert "The partner legacy's address “fax-only” is not a mail address." in texts(posted)
    assert desk.mail.sent == []
