"""The email channel as a new user meets it: `complaintbot run` with a real dovecot, a real
SMTP server and the agents' group on the Bot API stand-in.

A GBK complaint with a screenshot becomes a case; the receipt threads under it; the
user's reply joins the case; an agent's Telegram reply reaches the user by email; an
out-of-office reply is filed and not answered.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from complaintbot.app import run
from complaintbot.settings import Settings
from storage import migrate
from storage.database import create_engine
from storage.partners import add_partner
from tests.channels import mail_corpus as corpus
from tests.channels.test_telegram_desk import (
    AGENT_ID,
    GROUP_ID,
    SUPERVISOR_ID,
    bot_running,
    document,
    on_desk,
    place,
)
from tests.complaintbot.test_cli import complaintbot
from tests.support.clock import SteppedWallClock
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.smtp_server import SmtpServer
from tests.support.telegram_api import FakeBotApi, FakeGroup
from tests.support.waiting import eventually

USER_ADDRESS = "wang@example.cn"
PARTNER = "disputes@payco.example"
ISP = "noc@netco.example"


@pytest.fixture
def agents(api: FakeBotApi) -> FakeGroup:
    group = api.group(GROUP_ID, "客服组", forum=True)
    group.join(api.user(AGENT_ID, "李雷", "zh-hans"))
    return group


@pytest.fixture
async def running(
    api: FakeBotApi,
    agents: FakeGroup,
    dovecot: Dovecot,
    smtp_server: SmtpServer,
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[Settings]:
    async with bot_running(
        api,
        database_url,
        tmp_path / "data",
        **_mail_settings(dovecot, smtp_server),
    ) as settings:
        yield settings


async def test_a_mailed_complaint_from_receipt_to_agent_reply(
    running: Settings, dovecot: Dovecot, smtp_server: SmtpServer, agents: FakeGroup
) -> None:
    dovecot.append(corpus.gbk_complaint(message_id="<first@example.cn>", sender=USER_ADDRESS))

    receipt = (await eventually(lambda: _mails_to(smtp_server, USER_ADDRESS)))[0].message
    case_no = re.search(r"TS-\d{8}-\d{4}", str(receipt["Subject"])).group(0)  # type: ignore[union-attr]
    assert str(receipt["Subject"]) == f"Re: [{case_no}] {corpus.GBK_SUBJECT}"
    assert receipt["In-Reply-To"].strip() == "<first@example.cn>"
    assert receipt["References"].strip() == "<first@example.cn>"
    assert receipt["Auto-Submitted"] == "auto-replied"
    assert receipt.get_body(("plain",)) is not None and receipt.get_body(("html",)) is not None
    assert "期望的处理结果" in receipt.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    card = await on_desk(agents, running, case_no)
    assert "王小明" in card and "+8613812345678" in card
    case = await document(running, case_no)
    assert case["subject"] == corpus.GBK_SUBJECT
    assert case["complainant"]["email"] == USER_ADDRESS
    assert case["channel"] == "email"
    assert {e["name"] for e in case["evidence"]} == {"截图.png", "message.eml"}
    assert "朱镕基路" in case["description"]
    assert dovecot.flags() == [{"\\Seen"}]

    # The user answers the receipt's question from Gmail: the reply joins the case.
    dovecot.append(
        corpus.gmail_reply(
            "希望退还多扣的30元。",
            sender=USER_ADDRESS,
            subject=f"Re: [{case_no}] {corpus.GBK_SUBJECT}",
            in_reply_to=str(receipt["Message-ID"]),
            references=f"<first@example.cn> {receipt['Message-ID']}",
            message_id="<second@example.cn>",
        )
    )
    thanks = (await eventually(lambda: _mails_to(smtp_server, USER_ADDRESS, 2)))[1].message
    assert case_no in str(thanks["Subject"])
    case = await document(running, case_no)
    assert case["expectation"] == "希望退还多扣的30元。"

    # An agent answers in the case's topic: the answer goes out by email, in the thread.
    await agents.say(
        agents.members[AGENT_ID], "已核实，30元将在3个工作日内退回。", **place(agents, case_no)
    )
    answer = (await eventually(lambda: _mails_to(smtp_server, USER_ADDRESS, 3)))[2].message
    assert "已核实，30元将在3个工作日内退回。" in answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert answer["In-Reply-To"].strip() == "<second@example.cn>"
    assert "<first@example.cn>" in str(answer["References"])
    assert answer["Auto-Submitted"] is None  # a person wrote it

    # A document the agent posts in the topic reaches the user as an attachment.
    await agents.send_document(
        agents.members[AGENT_ID],
        b"%PDF-1.4 refund",
        "退款凭证.pdf",
        "application/pdf",
        caption="退款凭证",
        **place(agents, case_no),
    )
    with_file = (await eventually(lambda: _mails_to(smtp_server, USER_ADDRESS, 4)))[3].message
    (attachment,) = list(with_file.iter_attachments())
    assert (attachment.get_filename(), attachment.get_content()) == (
        "退款凭证.pdf",
        b"%PDF-1.4 refund",
    )

    # The user's out-of-office answers the agent: filed on the case, never answered.
    dovecot.append(
        corpus.out_of_office(
            sender=USER_ADDRESS,
            in_reply_to=str(answer["Message-ID"]),
            message_id="<ooo@example.cn>",
        )
    )
    await agents.expect("自动回复", since=0)
    case = await document(running, case_no)
    assert any(e["event"] == "automatic_mail" for e in case["timeline"])
    assert len(smtp_server.to(USER_ADDRESS)) == 4


async def test_email_alone_without_telegram(
    dovecot: Dovecot, smtp_server: SmtpServer, database_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        DATABASE_URL=database_url,
        DATA_DIR=tmp_path / "data",
        TELEGRAM_BOT_TOKEN=None,
        **_mail_settings(dovecot, smtp_server),  # type: ignore[arg-type]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(settings, stop))
    try:
        dovecot.append(corpus.big5_complaint(message_id="<alone@example.tw>"))
        (receipt,) = await eventually(lambda: _mails_to(smtp_server, "chan@example.tw"))
        assert "TS-" in str(receipt.message["Subject"])
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def referring(
    api: FakeBotApi,
    agents: FakeGroup,
    dovecot: Dovecot,
    smtp_server: SmtpServer,
    database_url: str,
    tmp_path: Path,
    wall: SteppedWallClock,
) -> AsyncIterator[Settings]:
    """The bot with mail, the agents' group with a supervisor, two partners, a clock the
    test moves on, and the calendar round the clock."""
    agents.join(api.user(SUPERVISOR_ID, "王主管", "zh-hans"), "administrator")
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        await add_partner(engine, "pay", "PayCo 支付", PARTNER, "2wd", wall.now())
        await add_partner(engine, "isp", "接入商 NetCo", ISP, None, wall.now())
    finally:
        await engine.dispose()
    async with bot_running(
        api,
        database_url,
        tmp_path / "data",
        wall,
        **_mail_settings(dovecot, smtp_server),
        CALENDAR="24x7",
        SWEEP_INTERVAL_SECONDS=0.5,
        TELEGRAM_SUPERVISOR_IDS=str(SUPERVISOR_ID),
    ) as settings:
        yield settings


@pytest.fixture
def wall() -> SteppedWallClock:
    """Two days behind: what the test lives through ends before the system's now, the
    time the CLI commands judge deadlines by."""
    return SteppedWallClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=2))


async def test_a_case_referred_to_a_partner_and_the_partners_answer(
    referring: Settings,
    dovecot: Dovecot,
    smtp_server: SmtpServer,
    agents: FakeGroup,
    wall: SteppedWallClock,
    tmp_path: Path,
) -> None:
    running = referring
    dovecot.append(corpus.gbk_complaint(message_id="<first@example.cn>", sender=USER_ADDRESS))
    receipt = (await eventually(lambda: _mails_to(smtp_server, USER_ADDRESS)))[0].message
    case_no = re.search(r"TS-\d{8}-\d{4}", str(receipt["Subject"])).group(0)  # type: ignore[union-attr]
    await on_desk(agents, running, case_no)
    li = agents.members[AGENT_ID]

    # The agent refers the case from its topic, with the bill attached.
    posts = len(agents.messages)
    await agents.send_document(
        li,
        b"%PDF-1.4 bill",
        "账单.pdf",
        "application/pdf",
        caption="/refer pay 11月1日订单8812是否重复扣款？",
        **place(agents, case_no),
    )
    await agents.expect("转交 PayCo 支付 协查", since=posts)
    request = (await eventually(lambda: _mails_to(smtp_server, PARTNER)))[0].message
    assert str(request["Subject"]) == f"[{case_no}] 协查请求"
    assert request["Auto-Submitted"] is None and request["In-Reply-To"] is None
    body = request.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "11月1日订单8812是否重复扣款？" in body and "2 个工作日" in body
    assert "王小明" not in body and USER_ADDRESS not in body and "13812345678" not in body
    (bill,) = list(request.iter_attachments())
    assert (bill.get_filename(), bill.get_content()) == ("账单.pdf", b"%PDF-1.4 bill")

    # The partner answers the mail: the answer shows in the topic, nobody is mailed.
    posts = len(agents.messages)
    dovecot.append(
        corpus.gmail_reply(
            "确认重复扣款，已于今日退款。",
            sender=PARTNER,
            subject=f"Re: {request['Subject']}",
            in_reply_to=str(request["Message-ID"]),
            references=str(request["Message-ID"]),
            message_id="<answer@payco.example>",
        )
    )
    shown = await agents.expect("答复了", since=posts)
    assert "确认重复扣款，已于今日退款。" in shown
    case = await document(running, case_no)
    events = [(e["event"], e["actor"]) for e in case["timeline"]]
    assert ("partner_answered", "partner:pay") in events
    assert len(smtp_server.to(PARTNER)) == 1 and len(smtp_server.to(USER_ADDRESS)) == 1

    # The complainant's thread stays theirs: the agent's next mail names no partner mail.
    await agents.say(li, "已核实，30元已退回。", **place(agents, case_no))
    answer = (await eventually(lambda: _mails_to(smtp_server, USER_ADDRESS, 2)))[1].message
    assert "<first@example.cn>" in str(answer["References"])
    for partner_mail in (str(request["Message-ID"]), "<answer@payco.example>"):
        assert partner_mail not in str(answer["References"])

    # A second referral, to a partner who never answers: reminded once at 80 % of a
    # day, then the topic and the handler, then the supervisor hear of it.
    posts = len(agents.messages)
    await agents.say(li, "/refer isp 1d 11月1日该用户线路是否中断？", **place(agents, case_no))
    await agents.expect("转交 接入商 NetCo 协查", since=posts)
    isp_request = (await eventually(lambda: _mails_to(smtp_server, ISP)))[0].message
    wall.advance(hours=19, minutes=30)
    reminder = (await eventually(lambda: _mails_to(smtp_server, ISP, 2)))[1].message
    assert reminder["In-Reply-To"].strip() == str(isp_request["Message-ID"]).strip()
    assert reminder["Subject"] == f"Re: [{case_no}] 协查请求"
    assert "提醒" in reminder.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    supervisor = agents.members[SUPERVISOR_ID]
    assert not any("接入商 NetCo" in text for text in supervisor.texts(0))
    posts = len(agents.messages)
    wall.advance(hours=5)
    await agents.expect("接入商 NetCo 未在", since=posts)
    await supervisor.expect("接入商 NetCo 仍未答复", since=0)
    assert len(smtp_server.to(ISP)) == 2  # reminded once
    case = await document(running, case_no, now=wall.now())
    kinds = [e["event"] for e in case["timeline"]]
    assert kinds.count("partner_reminded") == 1 and "partner_deadline_missed" in kinds
    assert [(r["partner"], r["outcome"]) for r in case["referrals"]] == [
        ("pay", "answered"),
        ("isp", "missed"),
    ]

    # The ledger and the quality report show both, with the complaint rate.
    env = {"DATABASE_URL": running.DATABASE_URL, "DEFAULT_LOCALE": "en"}
    day = datetime.now(UTC).astimezone(running.zone).date()
    period = ["--from", str(day - timedelta(days=3)), "--to", str(day)]
    ledger = tmp_path / "ledger.csv"
    exported = complaintbot(
        ["ledger", "export", *period, "--format", "csv", "-o", str(ledger)], tmp_path, env
    )
    assert exported.returncode == 0, exported.stderr
    (row,) = csv.DictReader(io.StringIO(ledger.read_text(encoding="utf-8-sig")))
    assert row["Partner(s)"] == "pay, isp"
    assert row["Partner deadline met"] == "met, missed (no answer)"
    report = complaintbot(
        ["report", *period, "-o", str(tmp_path / "report"), "--customers", "1000000"],
        tmp_path,
        env,
    )
    assert report.returncode == 0, report.stderr
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["complaint_rate"]["rate"] == 0.01  # 1 complaint per 10,000 × 100
    assert metrics["partners"]["pay"]["outcomes"]["answered"] == 1
    assert metrics["partners"]["isp"]["outcomes"]["missed"] == 1


def _mail_settings(dovecot: Dovecot, smtp_server: SmtpServer) -> dict[str, object]:
    return {
        "IMAP_HOST": "127.0.0.1",
        "IMAP_PORT": dovecot.port,
        "IMAP_SECURITY": "none",
        "IMAP_USERNAME": USER,
        "IMAP_PASSWORD": PASSWORD,
        "IMAP_POLL_SECONDS": 1,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_server.port,
        "SMTP_SECURITY": "none",
        "MAIL_FROM": f"投诉受理 <{USER}>",
    }


async def _mails_to(server: SmtpServer, address: str, count: int = 1) -> list:
    found = server.to(address)
    return found if len(found) >= count else []
