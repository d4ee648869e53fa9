"""The agents' group through the real python-telegram-bot, against the Bot API stand-in:
forum topics and plain groups, the loop complainant → agents → complainant."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest

from bot.ports import Clock
from complaintbot.app import run
from complaintbot.settings import Settings
from storage import queries
from storage.database import create_engine
from tests.support.staff_web import add_staff
from tests.support.telegram_api import UNPACED, FakeBotApi, FakeGroup, FakeUser
from tests.support.telegram_run import step
from tests.support.waiting import eventually
from web.case_json import case_document

GROUP_ID = -1001234567
AGENT_ID, OTHER_AGENT_ID, SUPERVISOR_ID, OUTSIDER_ID = 9101, 9102, 9103, 9199


@pytest.fixture(params=[True, False], ids=["forum", "plain-group"])
def group(request: pytest.FixtureRequest, api: FakeBotApi) -> FakeGroup:
    agents = api.group(GROUP_ID, "客服组", forum=request.param)
    for user_id, name in [(AGENT_ID, "李雷"), (OTHER_AGENT_ID, "韩梅梅"), (OUTSIDER_ID, "路人")]:
        agents.join(api.user(user_id, name, "zh-hans"))
    agents.join(api.user(SUPERVISOR_ID, "王主管", "zh-hans"), "administrator")
    return agents


@asynccontextmanager
async def bot_running(
    api: FakeBotApi,
    database_url: str,
    data_dir: Path,
    clock: Clock | None = None,
    **settings: object,
) -> AsyncIterator[Settings]:
    """`complaintbot run` with Telegram and the agents' group, in this process."""
    configured = Settings(
        DATABASE_URL=database_url,
        DATA_DIR=data_dir,
        TELEGRAM_BOT_TOKEN=api.token,
        **UNPACED,
        TELEGRAM_BASE_URL=api.base_url,
        TELEGRAM_BASE_FILE_URL=api.base_file_url,
        TELEGRAM_AGENT_CHAT_ID=GROUP_ID,
        **settings,  # type: ignore[arg-type]
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(configured, stop, clock=clock))
    await api.wait_until(lambda: bool(api.calls_of("getUpdates")) or task.done())
    if task.done():
        task.result()
    try:
        yield configured
    finally:
        await api.end_polls()
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def running(
    api: FakeBotApi, group: FakeGroup, database_url: str, tmp_path: Path
) -> AsyncIterator[Settings]:
    async with bot_running(
        api,
        database_url,
        tmp_path / "data",
        TELEGRAM_AGENT_IDS=f"{AGENT_ID},{OTHER_AGENT_ID}",
        TELEGRAM_SUPERVISOR_IDS=str(SUPERVISOR_ID),
    ) as settings:
        yield settings


async def file_case(user: FakeUser) -> str:
    for action, value, expect in [
        ("text", "My bill shows 30 yuan I never used", "Add more"),
        ("press", "Continue", "What is your name"),
        ("text", "Alice Smith", "How can we reach you"),
        ("text", "alice@example.com", "What kind"),
        ("press", "Appeal", "Which company"),
        ("text", "Example Telecom", "evidence"),
        ("press", "Skip", "What outcome"),
        ("text", "A refund", "Please check"),
    ]:
        await step(user, action, value, expect)
    receipt = await step(user, "press", "Confirm", "accepted")
    return re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]


def place(group: FakeGroup, case_no: str) -> dict[str, int]:
    """Where an agent writes to be in the case's thread: its topic, or a reply to its card."""
    if group.forum:
        (thread,) = [t for t, name in group.topics.items() if name.startswith(case_no)]
        return {"thread": thread}
    card = next(m for m in group.messages if case_no in (m.get("text") or ""))
    return {"reply_to": card["message_id"]}


async def on_desk(group: FakeGroup, settings: Settings, case_no: str) -> str:
    """Waits for the case's card and for the bot to have recorded it, so that a reply
    to the card is known to belong to the case (an agent is never that quick)."""
    card = await group.expect(f"投诉 {case_no}", since=0)
    await eventually(lambda: _threaded(settings, case_no))
    return card


async def _threaded(settings: Settings, case_no: str) -> bool:
    return await _in_thread(settings, case_no, None)


async def _in_thread(settings: Settings, case_no: str, thread: str | None) -> bool:
    """Whether the case's thread is recorded (as `thread`, when given)."""
    engine = create_engine(settings.DATABASE_URL)
    try:
        detail = await queries.case_detail(engine, case_no)
    finally:
        await engine.dispose()
    recorded = detail.case.agent_thread if detail else None
    return recorded is not None and (thread is None or recorded == thread)


async def document(settings: Settings, case_no: str, now: datetime | None = None) -> dict:
    """`cases show --json` of the case; outcomes as of `now` (the system's time)."""
    engine = create_engine(settings.DATABASE_URL)
    try:
        detail = await queries.case_detail(engine, case_no)
    finally:
        await engine.dispose()
    assert detail is not None
    return case_document(detail, settings.zone, now=now)


async def test_a_case_goes_round_the_loop(
    api: FakeBotApi, group: FakeGroup, running: Settings
) -> None:
    alice = api.user(5101, "Alice", "en")
    li, outsider = group.members[AGENT_ID], group.members[OUTSIDER_ID]
    case_no = await file_case(alice)

    card = await on_desk(group, running, case_no)
    assert "Alice Smith" in card and "alice@example.com" in card and "A refund" in card
    if group.forum:
        # The deadlines topic, opened at start, and the case's own.
        assert list(group.topics.values()) == ["⏰ 时限提醒", f"{case_no} · 申诉 · Alice Smith"]
    where = place(group, case_no)

    mark = len(alice.messages)
    await group.press(li, "认领")
    await alice.expect("now being handled by Agent No.", since=mark)

    refused = len(group.messages)
    await group.say(outsider, "/resolve 我来关掉它", **where)
    await group.expect("只有客服可以执行此操作", since=refused)

    mark = len(alice.messages)
    await group.say(li, "/info 请发一张账单截图", **where)
    await alice.expect("needs more information", since=mark)
    assert "请发一张账单截图" in "\n".join(alice.texts(mark))

    posts = len(group.messages)
    bill = b"\x89PNG\r\n\x1a\n the bill"
    await alice.send_photo(bill, caption="Here it is")
    await group.expect("Here it is", since=posts)
    await api.wait_until(lambda: any(data == bill for _name, data in group.files(posts)))
    in_thread = group.messages[-1]
    if group.forum:
        assert in_thread["message_thread_id"] == where["thread"]
    else:
        assert in_thread["reply_to_message"]["message_id"] == where["reply_to"]

    mark = len(alice.messages)
    refund = b"%PDF-1.7 refund note"
    await group.send_document(li, refund, "refund.pdf", "application/pdf", **where)
    await api.wait_until(lambda: ("refund.pdf", refund) in alice.files(mark))

    mark = len(alice.messages)
    await group.say(
        li,
        "/resolve facts=confirmed nature=system_fault responsibility=company severity=minor "
        "The 30 yuan were charged twice and have been refunded.",
        **where,
    )
    told = await alice.expect("has been resolved", since=mark)
    assert "have been refunded" in told

    case = await eventually(lambda: document(running, case_no))
    assert case["status"] == "resolved" and case["handler"] == "李雷"
    assert case["verification"]["nature"] == "system_fault"
    assert case["first_response_at"] is not None and case["resolved_at"] is not None
    events = [(e["event"], e["actor"]) for e in case["timeline"]]
    for expected in ["claimed", "info_requested", "agent_message", "resolved"]:
        assert (expected, "agent:1") in events, events
    assert any(e == "complainant_message" for e, _actor in events)
    # The complainant's photo and the agent's document are both filed on the case.
    assert sorted((e["mime"], e["size"]) for e in case["evidence"]) == [
        ("application/pdf", len(refund)),
        ("image/jpeg", len(bill)),
    ]

    escalations = len(group.members[SUPERVISOR_ID].messages)
    await group.say(li, "/reopen", **where)
    await group.say(li, "/escalate 用户要求主管回电", **where)
    await group.members[SUPERVISOR_ID].expect("用户要求主管回电", since=escalations)


async def test_a_staff_supervisor_with_a_telegram_id_is_told_of_escalations(
    api: FakeBotApi, group: FakeGroup, database_url: str, tmp_path: Path
) -> None:
    """`users add --role supervisor --telegram-id` makes a supervisor as
    TELEGRAM_SUPERVISOR_IDS does; a staff agent's Telegram id does not."""
    await add_staff(database_url, "wang", "supervisor", name="王主管", telegram_id=SUPERVISOR_ID)
    await add_staff(database_url, "han", "agent", telegram_id=OTHER_AGENT_ID)
    async with bot_running(
        api, database_url, tmp_path / "data", TELEGRAM_AGENT_IDS=str(AGENT_ID)
    ) as settings:
        case_no = await file_case(api.user(5151, "Alice", "en"))
        await eventually(lambda: _in_thread(settings, case_no, None))
        li, wang = group.members[AGENT_ID], group.members[SUPERVISOR_ID]
        han = group.members[OTHER_AGENT_ID]
        where = place(group, case_no)
        told = len(wang.messages)
        await group.say(li, "/escalate 用户要求主管回电", **where)
        await wang.expect("用户要求主管回电", since=told)
        refused = len(group.messages)
        await group.say(han, f"/note {case_no} 我来看看", **where)
        await group.expect("只有客服可以执行此操作", since=refused)


async def test_agent_commands_elsewhere_are_refused(
    api: FakeBotApi, group: FakeGroup, running: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    alice = api.user(5102, "Alice", "en")
    case_no = await file_case(alice)
    mark = len(alice.messages)
    await alice.send_text(f"/resolve {case_no} done")
    await alice.expect("only for agents", since=mark)
    other = api.group(-1009999, "Another group", forum=False)
    other.join(group.members[AGENT_ID])
    await other.say(group.members[AGENT_ID], f"/claim {case_no}")
    await eventually(
        lambda: _async_value(any("is not the agents' group" in r.message for r in caplog.records))
    )
    assert other.messages == []
    status = await step(alice, "text", f"/status {case_no}", case_no)
    assert "received, awaiting an agent" in status


def _shows(message: dict, fragment: str) -> bool:
    return fragment in message["text"]


async def _async_value(value: bool) -> bool:
    return value


async def test_a_complainant_who_blocked_the_bot_shows_as_not_delivered(
    api: FakeBotApi, group: FakeGroup, running: Settings
) -> None:
    alice = api.user(5103, "Alice", "en")
    case_no = await file_case(alice)
    await on_desk(group, running, case_no)
    alice.block()
    mark = len(group.messages)
    await group.say(group.members[AGENT_ID], "Can we call you?", **place(group, case_no))
    await group.expect("未能送达投诉人", since=mark)


@pytest.mark.parametrize("group", [True], indirect=True, ids=["forum"])
async def test_a_bot_without_rights_warns_at_start_and_still_posts_cards(
    api: FakeBotApi, group: FakeGroup, database_url: str, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.WARNING)
    group.bot_status = "member"
    async with bot_running(api, database_url, tmp_path / "data"):
        warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
        assert any("not an administrator" in w and "TELEGRAM_AGENT_CHAT_ID" in w for w in warnings)
        assert any("Manage topics" in w for w in warnings)
        alice = api.user(5104, "Alice", "en")
        case_no = await file_case(alice)
        await group.expect(f"投诉 {case_no}", since=0)
        assert group.topics == {}


@pytest.mark.parametrize("group", [True], indirect=True, ids=["forum"])
async def test_a_topic_deleted_by_hand_is_opened_again(
    api: FakeBotApi, group: FakeGroup, running: Settings
) -> None:
    alice = api.user(5105, "Alice", "en")
    case_no = await file_case(alice)
    await on_desk(group, running, case_no)
    group.delete_topic(place(group, case_no)["thread"])

    mark = len(group.messages)
    await alice.send_text("Any news?")
    await group.expect("Any news?", since=mark)
    (reopened,) = [t for t, name in group.topics.items() if name == f"{case_no} ↻"]
    assert group.messages[-1]["message_thread_id"] == reopened
    await eventually(lambda: _in_thread(running, case_no, f"topic:{reopened}"))

    mark = len(alice.messages)
    await group.say(group.members[AGENT_ID], "We are on it.", thread=reopened)
    await alice.expect("We are on it.", since=mark)


async def test_the_verification_is_one_message_changed_in_place(
    api: FakeBotApi, group: FakeGroup, running: Settings
) -> None:
    alice = api.user(5106, "Alice", "en")
    li = group.members[AGENT_ID]
    case_no = await file_case(alice)
    await on_desk(group, running, case_no)
    where = place(group, case_no)

    mark = len(group.messages)
    await group.say(li, "/resolve 重复扣除的30元已退还。", **where)
    await group.expect("事实是否属实", since=mark)
    (verification,) = group.messages[mark:]
    for label, next_question in [
        ("事实属实", "性质"),
        ("系统故障", "责任"),
        ("公司责任", "严重"),
        ("轻微", "核实已完成"),
    ]:
        await group.press(li, label, since=mark)
        await api.wait_until(partial(_shows, verification, next_question))
    assert verification["text"].startswith("处理结果：重复扣除的30元已退还。\n事实属实 · 系统故障")

    mark_alice = len(alice.messages)
    await group.press(li, "确认并办结", since=mark)
    await api.wait_until(lambda: verification["text"].startswith(f"✅ {case_no}"))
    told = await alice.expect("has been resolved", since=mark_alice)
    assert "重复扣除的30元已退还。" in told
    # Asked, answered four times and confirmed: still the one message, now without buttons.
    assert group.messages[mark:] == [verification]
    assert not (verification.get("reply_markup") or {}).get("inline_keyboard")
    case = await eventually(lambda: document(running, case_no))
    assert case["status"] == "resolved"
    assert case["verification"] == {
        "facts": "confirmed",
        "nature": "system_fault",
        "responsibility": "company",
        "severity": "minor",
    }


async def test_a_file_captioned_with_a_command_goes_with_the_command(
    api: FakeBotApi, group: FakeGroup, running: Settings
) -> None:
    alice = api.user(5105, "Alice", "en")
    li = group.members[AGENT_ID]
    case_no = await file_case(alice)
    await on_desk(group, running, case_no)
    where = place(group, case_no)

    mark, posts = len(alice.messages), len(group.messages)
    receipt = b"%PDF-1.7 refund receipt R-77"
    await group.send_document(
        li, receipt, "receipt.pdf", "application/pdf", caption="/note 退款凭证 R-77", **where
    )
    await group.expect(f"已为 {case_no} 保存内部备注", since=posts)

    case = await eventually(lambda: document(running, case_no))
    (note,) = [e for e in case["timeline"] if e["event"] == "note"]
    assert note["text"] == "退款凭证 R-77" and note["files"][0]["name"] == "receipt.pdf"
    assert ("application/pdf", len(receipt)) in [(e["mime"], e["size"]) for e in case["evidence"]]
    assert alice.messages[mark:] == []  # an internal note's file is never forwarded
