"""The intake as a person goes through it, on SQLite, PostgreSQL and in memory (no network)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.messages import InboundKind
from bot.router import BotConfig, ComplaintBot
from storage.models import Case, Evidence
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.support.chat import Chat, texts
from tests.support.clock import FakeClock
from tests.support.records import Records

# (what the person does, a text every reply to it must contain)
ENGLISH_INTAKE = [
    ("say", "I was charged 30 yuan and I don't know why", "Add more if you like"),
    ("say", "It was on last month's bill.", "Add more if you like"),
    ("press", "Continue", "What is your name"),
    ("say", "Alice Wang", "How can we reach you"),
    ("say", "12345", "is not a valid phone number"),
    ("say", "13812345678 alice@example.com", "It sounds like “Appeal”"),
    ("press", "Appeal", "Which company, product or service"),
    ("say", "Example Telecom, ICP 京B2-20260001", "Do you have evidence"),
    ("press", "Skip", "What outcome do you expect"),
    ("say", "A refund and an explanation", "Please check your complaint"),
    ("press", "Confirm", "Your complaint has been accepted"),
]

CHINESE_INTAKE = [
    ("say", "/start", "请用您自己的话描述发生了什么"),
    ("say", "我想举报一个诈骗短信", "已记录"),
    ("press", "继续", "请问您的姓名"),
    ("say", "张三", "我们如何联系您"),
    ("share_phone", "8613812345678", "看起来像是“举报”"),
    ("press", "举报", "您投诉的是哪家公司"),
    ("say", "某某科技有限公司", "您有证据吗"),
    ("press", "跳过", "您期望的处理结果"),
    ("say", "请核实并处理", "请核对您的投诉内容"),
    ("press", "确认提交", "您的投诉已受理"),
]


async def play(chat: Chat, script: list[tuple[str, str, str]]) -> str:
    replies = []
    for action, value, expected in script:
        replies = await getattr(chat, action)(value)
        assert expected in texts(replies), f"after {action} {value!r}: {texts(replies)!r}"
    return texts(replies)


async def test_english_intake_files_a_case_with_every_field(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    chat = Chat(bot, outbox, clock, language_code="en-GB")
    first_message_at = clock.now() + timedelta(seconds=5)
    receipt = await play(chat, ENGLISH_INTAKE)

    case_no = re.search(r"Case number: (TS-20261122-\d{4})", receipt)
    assert case_no is not None, receipt
    assert "Category: Appeal" in receipt
    # Appeals get 48 hours from the first message; shown in Asia/Shanghai time.
    assert "We will respond by 2026-11-24 10:00 (Asia/Shanghai)." in receipt
    (case,) = await records.cases()
    assert case.case_no == case_no.group(1) == "TS-20261122-0001"
    assert case.status == "acknowledged"
    assert (case.contact_name, case.contact_phone, case.contact_email) == (
        "Alice Wang",
        "+8613812345678",
        "alice@example.com",
    )
    assert case.category == "appeal"
    assert case.subject == "Example Telecom, ICP 京B2-20260001"
    assert case.description == (
        "I was charged 30 yuan and I don't know why\nIt was on last month's bill."
    )
    assert case.expectation == "A refund and an explanation"
    assert case.received_at == first_message_at
    assert case.receipt_sent_at is not None and case.receipt_sent_at > case.received_at


async def test_chinese_intake_with_shared_contact(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    chat = Chat(bot, outbox, clock, language_code="zh-hans")
    receipt = await play(chat, CHINESE_INTAKE)
    assert "受理编号：TS-20261122-0001" in receipt
    assert "类型：举报" in receipt
    (case,) = await records.cases()
    assert case.contact_phone == "+8613812345678"
    assert case.category == "report"
    assert case.locale == "zh_CN"


@pytest.mark.parametrize(("script", "language"), [(ENGLISH_INTAKE, "en"), (CHINESE_INTAKE, "zh")])
async def test_every_step_of_the_intake_is_answered_with_one_message(
    bot: ComplaintBot,
    outbox: SqlOutbox,
    clock: FakeClock,
    script: list[tuple[str, str, str]],
    language: str,
) -> None:
    chat = Chat(bot, outbox, clock, language_code=language)
    for action, value, expected in script:
        (reply,) = await getattr(chat, action)(value)
        assert expected in reply.text


async def test_the_first_message_is_greeted_acknowledged_and_offered_continue_at_once(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    chat = Chat(bot, outbox, clock)
    (reply,) = await chat.say("I was charged 30 yuan and I don't know why")
    greeting, notice, noted = reply.text.split("\n\n")
    assert greeting.startswith("Hello! This is the complaint service.")
    assert notice.startswith("Privacy: we collect your name")
    assert noted == "Noted. Add more if you like, then press Continue."
    assert [[b.label for b in row] for row in reply.buttons] == [["Continue"]]


async def test_a_file_too_large_after_the_receipt_is_one_message_with_the_notice(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    chat = Chat(bot, outbox, clock)
    receipt = await play(chat, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    (reply,) = await chat.send_file("huge.pdf", None, mime="application/pdf")
    assert reply.text.split("\n\n") == [
        "A file was too large (the limit is 20 MB) and was not received.",
        f"Added to your case {case_no}. To file a new complaint, send /new.",
    ]
    assert reply.case_no is None or reply.case_no == case_no


async def test_every_inbound_is_stored_raw_and_a_redelivery_changes_nothing(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    chat = Chat(bot, outbox, clock)
    inbound = chat.inbound(InboundKind.TEXT, text="My router was charged twice")
    first = await chat.deliver(inbound)
    again = await chat.deliver(inbound)
    assert "Add more if you like" in texts(first)
    assert again == []
    stored = await records.messages("in")
    assert [(m.text, m.raw) for m in stored] == [("My router was charged twice", inbound.raw)]


async def test_a_fault_keeps_the_message_and_tells_the_person_in_their_language(
    bot: ComplaintBot,
    outbox: SqlOutbox,
    clock: FakeClock,
    records: Records,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chat = Chat(bot, outbox, clock, language_code="zh-hans")
    await chat.say("/language")
    await chat.press("English")

    async def broken(turn: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(bot.complainant, "handle", broken)
    inbound = chat.inbound(InboundKind.TEXT, text="My router was charged twice")
    await bot.handle_safely(inbound)
    await chat.deliver_pending()
    assert texts(chat.mine()[-1:]) == (
        "Sorry, something went wrong on our side. Your message is saved; please send it once more."
    )
    stored = await records.messages("in")
    assert [m.text for m in stored][-1] == "My router was charged twice"


async def test_a_restarted_bot_resumes_the_intake_without_asking_again(
    engine: AsyncEngine, outbox: SqlOutbox, clock: FakeClock, tmp_path
) -> None:
    first_bot = ComplaintBot(SqlRepository(engine, tmp_path), BotConfig(), clock)
    chat = Chat(first_bot, outbox, clock)
    await chat.say("Charged for a service I never ordered")
    await chat.press("Continue")
    await chat.say("Bob")

    # A new process: new bot, new repository, same database.
    chat.bot = ComplaintBot(SqlRepository(engine, tmp_path), BotConfig(), clock)
    replies = await chat.say("/start")
    assert "let us continue where we stopped" in texts(replies)
    assert "How can we reach you" in texts(replies)
    replies = await chat.say("bob@example.com")
    assert "What kind of request is this" in texts(replies)
    asked = [o.text for o in chat.mine() if "What is your name" in o.text]
    assert len(asked) == 1


async def test_evidence_is_stored_with_its_checksum_and_linked_to_the_case(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, engine: AsyncEngine, tmp_path
) -> None:
    chat = Chat(bot, outbox, clock)
    photo = b"\xff\xd8\xff fake jpeg bytes"
    await chat.say("My SIM was blocked without notice")
    await chat.press("Continue")
    await chat.say("Carol")
    await chat.say("carol@example.com")
    await chat.press("Help request")
    await chat.say("Example Mobile")
    replies = await chat.send_file("bill.jpg", photo)
    assert "Received: bill.jpg" in texts(replies)
    replies = await chat.send_file("huge.pdf", None, mime="application/pdf")
    assert "larger than 20 MB" in texts(replies)
    await chat.press("Done")
    replies = await chat.say("Unblock it")
    assert "Evidence: 1 file\n" in texts(replies)
    await chat.press("Confirm")

    async with AsyncSession(engine) as session:
        evidence = (await session.scalars(select(Evidence))).one()
        case = (await session.scalars(select(Case))).one()
    assert evidence.case_id == case.id
    assert evidence.sha256 == hashlib.sha256(photo).hexdigest()
    assert (evidence.name, evidence.mime, evidence.size) == ("bill.jpg", "image/jpeg", len(photo))
    assert (tmp_path / "data" / evidence.path).read_bytes() == photo


async def test_edit_a_field_from_the_summary_then_cancel_files_nothing(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    chat = Chat(bot, outbox, clock)
    for step in ENGLISH_INTAKE[:-1]:
        await getattr(chat, step[0])(step[1])
    await chat.press("Edit a field")
    replies = await chat.press("Name")
    assert "What is your name" in texts(replies)
    replies = await chat.say("Alice Wang-Li")
    assert "Name: Alice Wang-Li" in texts(replies)
    assert "Please check your complaint" in texts(replies)
    replies = await chat.press("Cancel")
    assert "Nothing was filed" in texts(replies)
    replies = await chat.say("/status")
    assert "You have no cases yet" in texts(replies)
    assert await records.cases() == []


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("   ", "That message is empty"),
        ("\u200b\u200d\ufeff", "That message is empty"),
        ("x" * 101, "longer than 100 characters"),
    ],
)
async def test_bad_answers_get_one_clear_sentence_and_the_question_again(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, answer: str, problem: str
) -> None:
    chat = Chat(bot, outbox, clock)
    await chat.say("Problem with my broadband")
    await chat.press("Continue")
    (reply,) = await chat.say(answer)
    sentence, question = reply.text.split("\n\n")
    assert problem in sentence
    assert "What is your name" in question


async def test_odd_input_is_answered_and_nothing_is_lost(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    chat = Chat(bot, outbox, clock)
    assert "Unknown command" in texts(await chat.say("/frobnicate"))
    assert "cannot read this kind of message" in texts(await chat.unsupported("sticker"))
    await chat.say("Name <b>&amp;</b> 😀 test")
    await chat.press("Continue")
    await chat.say("<script>alert(1)</script> 🙂")
    await chat.say("13812345678")
    await chat.press("Suggestion")
    await chat.say("Shop & Co <Ltd>")
    await chat.press("Skip")
    summary = texts(await chat.say("More emoji 🎉"))
    # Shown literally: plain text, never interpreted as markup.
    assert "Name: <script>alert(1)</script> 🙂" in summary
    assert "About: Shop & Co <Ltd>" in summary
    kinds = [m.kind for m in await records.messages("in")]
    assert kinds[:2] == ["command", "unsupported"]


async def test_an_edited_description_keeps_both_versions_on_the_timeline(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    chat = Chat(bot, outbox, clock)
    await chat.say("I was charged 50 yuan")
    described = chat.last_message_id
    assert "description was updated" in texts(await chat.edit(described, "I was charged 80 yuan"))
    for action, value, _ in ENGLISH_INTAKE[2:]:
        await getattr(chat, action)(value)
    (case,) = await records.cases()
    events = await records.events(case.case_no)
    assert case.description == "I was charged 80 yuan"
    edits = [e.payload for e in events if e.kind == "description_edited"]
    assert edits == [{"before": "I was charged 50 yuan", "after": "I was charged 80 yuan"}]
    assert [e.kind for e in events][-2:] == ["case_created", "receipt_sent"]


async def test_status_shows_only_the_persons_own_cases(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    alice = Chat(bot, outbox, clock, user="2001")
    bob = Chat(bot, outbox, clock, user="2002", sender=alice.sender)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]

    own = texts(await alice.say(f"/status {case_no}"))
    assert f"Case number: {case_no}" in own and "Status: received, awaiting an agent" in own
    foreign = texts(await bob.say(f"/status {case_no}"))
    unknown = texts(await bob.say("/status TS-20261122-9999"))
    assert foreign == f"No case {case_no} was found among your cases."
    assert unknown == "No case TS-20261122-9999 was found among your cases."
    assert "You have no cases yet" in texts(await bob.say("/status"))


async def test_language_choice_overrides_the_telegram_language(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    chat = Chat(bot, outbox, clock, language_code="en")
    await chat.say("/language")
    assert texts(await chat.press("中文")) == "语言已设置为中文。"
    assert "发送消息描述您的问题" in texts(await chat.say("/help"))


async def test_concurrent_intakes_get_unique_gap_free_case_numbers(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    chats = [Chat(bot, outbox, clock, user=str(3000 + n)) for n in range(8)]
    for chat in chats[1:]:
        # One dispatcher for the outbox, as in the bot: a second one in the process
        # would take the first one's claims for abandoned and send them again.
        chat.sender, chat.dispatcher = chats[0].sender, chats[0].dispatcher
    for chat in chats:
        for action, value, _ in ENGLISH_INTAKE[:-1]:
            await getattr(chat, action)(value)
    # All confirm at once: the serials are allocated concurrently.
    await asyncio.gather(*(chat.press("Confirm") for chat in chats))
    numbers = sorted(c.case_no for c in await records.cases())
    assert numbers == [f"TS-20261122-{n:04d}" for n in range(1, 9)]


async def test_case_numbers_restart_each_local_day(
    bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    chat = Chat(bot, outbox, clock)
    first = await play(chat, ENGLISH_INTAKE)
    clock.advance(hours=14)  # past midnight in Asia/Shanghai
    await chat.say("/new")
    second = await play(chat, ENGLISH_INTAKE)
    assert "TS-20261122-0001" in first
    assert "TS-20261123-0001" in second


def test_outbox_payload_is_json() -> None:
    from bot.messages import Button, Outbound

    out = Outbound("test", "1", "hi", ((Button("A", "a"),),), "Share")
    assert Outbound.from_payload("test", "1", json.loads(json.dumps(out.to_payload()))) == out
