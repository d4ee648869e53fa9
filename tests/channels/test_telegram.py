"""The real python-telegram-bot application against a Bot API stand-in on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from channels.telegram.application import TYPING_AFTER
from channels.telegram.sender import split_text
from complaintbot.settings import Settings
from storage.models import Case, Evidence, Message, TimelineEvent
from tests.support.telegram_api import FakeBotApi, FakeUser
from tests.support.telegram_run import running_telegram, step, stored_rows, telegram_settings
from tests.support.waiting import eventually


@pytest.fixture
async def running(api: FakeBotApi, database_url: str, tmp_path: Path) -> AsyncIterator[Settings]:
    """`complaintbot run` with Telegram configured, in this process."""
    settings = telegram_settings(api, database_url, tmp_path / "data")
    async with running_telegram(api, settings):
        yield settings


async def stored(settings: Settings, model: type, *where: object) -> list:
    return await stored_rows(settings.DATABASE_URL, model, *where)


CHINESE = [
    ("text", "/start", "请用您自己的话描述发生了什么"),
    ("text", "上个月被多扣了30元话费，客服电话一直打不通", "已记录"),
    ("press", "继续", "请问您的姓名"),
    ("text", "张三", "我们如何联系您"),
    ("contact", "8613812345678", "看起来像是“申诉”"),
    ("press", "申诉", "您投诉的是哪家公司"),
    ("text", "某某通信科技有限公司", "您有证据吗"),
]


async def test_a_chinese_complaint_with_photo_evidence_gets_a_receipt(
    api: FakeBotApi, running: Settings
) -> None:
    zhang = api.user(5001, "张三", "zh-hans")
    for action, value, expect in CHINESE:
        await step(zhang, action, value, expect)
    photo = b"\xff\xd8\xff\xe0 screenshot of the bill"
    mark = len(zhang.messages)
    await zhang.send_photo(photo, caption="账单截图")
    assert "已收到：photo-" in await zhang.expect("完成后请点“完成”", since=mark)
    await step(zhang, "press", "完成", "您期望的处理结果")
    summary = await step(zhang, "text", "退还多扣的费用", "请核对您的投诉内容")
    assert "电话：+8613812345678" in summary and "证据：1 个文件" in summary
    receipt = await step(zhang, "press", "确认提交", "您的投诉已受理")
    case_no = re.search(r"受理编号：(TS-\d{8}-\d{4})", receipt).group(1)  # type: ignore[union-attr]
    assert "类型：申诉" in receipt and "前答复您" in receipt

    (case,) = await stored(running, Case)
    assert (case.case_no, case.channel, case.category) == (case_no, "telegram", "appeal")
    assert case.conversation == "5001"
    (evidence,) = await stored(running, Evidence)
    assert evidence.case_id == case.id
    assert evidence.sha256 == hashlib.sha256(photo).hexdigest()
    assert (running.DATA_DIR / evidence.path).read_bytes() == photo
    # Every button press was acknowledged.
    assert len(api.calls_of("answerCallbackQuery")) == 4
    (sent,) = await eventually(lambda: stored(running, Case, Case.receipt_sent_at.is_not(None)))
    assert sent.receipt_sent_at >= sent.created_at


async def test_under_run_the_greeting_sends_nobody_to_a_page_nobody_serves(
    api: FakeBotApi, running: Settings
) -> None:
    # `run` serves no web pages: the privacy notice stands in the greeting, unlinked.
    li = api.user(5005, "Li", "en")
    greeting = await step(li, "text", "/new", "in your own words")
    assert "Privacy: we collect your name" in greeting
    assert "Full notice" not in greeting and "/privacy" not in greeting


async def test_a_slow_answer_shows_typing_and_no_signal_holds_an_answer_up(
    api: FakeBotApi, running: Settings
) -> None:
    # Telegram hangs on acknowledging a button press; the answers go on.
    api.stall_next("answerCallbackQuery")
    wang = api.user(5004, "Wang", "en")
    slowest = 0.0
    async with asyncio.timeout(3):  # an acknowledgement waited for would hold it 5 s
        for action, what, expect in (
            ("text", "My broadband was cut off without notice", "Add more"),
            ("press", "Continue", "What is your name"),
        ):
            started = time.monotonic()
            await step(wang, action, what, expect)
            slowest = max(slowest, time.monotonic() - started)
    assert api.stalled == 1
    if slowest < TYPING_AFTER:  # (a loaded machine may take longer: then it may type)
        assert api.calls_of("sendChatAction") == []  # quick answers need no "typing…"
    typed = len(api.calls_of("sendChatAction"))
    # A photo whose download hangs: half a second on, Wang sees the bot typing.
    api.stall_next("getFile")
    mark = len(wang.messages)
    await wang.send_photo(b"\xff\xd8\xff\xe0 the bill", caption="the bill")
    await api.wait_until(lambda: len(api.calls_of("sendChatAction")) > typed)
    typing = api.calls_of("sendChatAction")[-1]
    assert (int(typing["chat_id"]), typing["action"]) == (5004, "typing")
    api.unstall()
    await api.wait_until(lambda: len(wang.messages) > mark)


async def test_an_english_complaint_with_a_wrong_phone_asked_again(
    api: FakeBotApi, running: Settings
) -> None:
    alice = api.user(5002, "Alice", "en")
    await step(alice, "text", "My broadband was cut off without notice", "Add more if you like")
    await step(alice, "press", "Continue", "What is your name")
    await step(alice, "text", "Alice Smith", "How can we reach you")
    mark = len(alice.messages)
    await alice.send_text("12345")
    asked = await alice.expect("How can we reach you", since=mark)
    assert asked.startswith("“12345” is not a valid phone number or email address.")
    share = alice.messages[-1]["reply_markup"]["keyboard"][0][0]
    assert share == {"text": "Share my phone number", "request_contact": True}
    await step(alice, "text", "alice@example.com", "What kind of request")
    await step(alice, "press", "Help request", "Which company")
    await step(alice, "text", "Example Broadband Ltd", "Do you have evidence")
    await step(alice, "press", "Skip", "What outcome")
    await step(alice, "text", "Reconnect me", "Please check your complaint")
    receipt = await step(alice, "press", "Confirm", "Your complaint has been accepted")
    assert "Category: Help request" in receipt
    # One message a turn: ten turns, ten messages, the first with its button under it.
    assert len(alice.messages) == 10
    assert alice.texts()[0].endswith("\n\nNoted. Add more if you like, then press Continue.")
    assert alice.messages[0]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Continue"
    assert alice.texts()[3] == asked
    status = await step(alice, "text", "/status", "Your cases:")
    assert "Help request · received, awaiting an agent" in status


async def test_commands_are_published_in_both_languages(api: FakeBotApi, running: Settings) -> None:
    assert [c["command"] for c in api.commands["zh"]] == [
        "new",
        "status",
        "cancel",
        "language",
        "help",
    ]
    assert api.commands["zh"][0]["description"] == "提交新投诉"
    assert api.commands["en"][0]["description"] == "File a new complaint"
    assert api.commands[""] == api.commands["zh"]


async def test_cancel_files_nothing(api: FakeBotApi, running: Settings) -> None:
    bob = api.user(5003, "Bob", "en")
    await step(bob, "text", "The app keeps crashing", "Add more")
    reply = await step(bob, "text", "/cancel", "Cancelled")
    assert "Nothing was filed" in reply
    assert await stored(running, Case) == []


async def test_a_redelivered_update_is_ignored(api: FakeBotApi, running: Settings) -> None:
    carol = api.user(5004, "Carol", "en")
    mark = len(carol.messages)
    update = await carol.send_text("I was billed twice for March")
    await carol.expect("Add more", since=mark)
    answered = len(carol.messages)
    await api.redeliver(update)
    # The stand-in has served the redelivery once the bot asks past it again.
    offset = update["update_id"] + 1
    await api.wait_until(
        lambda: sum(1 for c in api.calls_of("getUpdates") if int(c.get("offset", 0)) >= offset) >= 2
    )
    mark = len(carol.messages)
    await carol.send_text("/help")
    await carol.expect("Commands:", since=mark)
    assert len(carol.messages) == answered + 1
    rows = await stored(running, Message, Message.direction == "in")
    assert [m.transport_id for m in rows].count(str(update["update_id"])) == 1


async def test_stickers_voice_locations_and_unknown_commands_get_a_clear_answer(
    api: FakeBotApi, running: Settings
) -> None:
    dave = api.user(5005, "Dave", "en")
    for send in (dave.send_sticker, dave.send_voice, dave.send_location):
        mark = len(dave.messages)
        await send()
        await dave.expect("cannot read this kind of message", since=mark)
    mark = len(dave.messages)
    await dave.send_text("/refund")
    await dave.expect("Unknown command. Send /help", since=mark)
    kinds = [m.kind for m in await stored(running, Message, Message.direction == "in")]
    assert kinds == ["unsupported", "unsupported", "unsupported", "command"]


async def test_an_edited_message_keeps_both_versions(api: FakeBotApi, running: Settings) -> None:
    erin = api.user(5006, "Erin", "en")
    mark = len(erin.messages)
    first = await erin.send_text("I was charged 50 yuan")
    await erin.expect("Add more", since=mark)
    mark = len(erin.messages)
    await erin.edit_text(first["message"]["message_id"], "I was charged 80 yuan")
    await erin.expect("Your description was updated", since=mark)
    versions = [m.text for m in await stored(running, Message, Message.direction == "in")]
    assert versions == ["I was charged 50 yuan", "I was charged 80 yuan"]


async def test_several_people_file_at_once(api: FakeBotApi, running: Settings) -> None:
    people = [api.user(6000 + n, f"User {n}", "en") for n in range(5)]

    async def file(user: FakeUser) -> str:
        script = [
            ("text", f"Complaint number {user.id}", "Add more"),
            ("press", "Continue", "What is your name"),
            ("text", user.first_name, "How can we reach you"),
            ("text", f"user{user.id}@example.com", "What kind"),
            ("press", "Consultation", "Which company"),
            ("text", "Example Co", "evidence"),
            ("press", "Skip", "What outcome"),
            ("text", "An answer", "Please check"),
            ("press", "Confirm", "accepted"),
        ]
        reply = ""
        for action, value, expect in script:
            reply = await step(user, action, value, expect)
        return re.search(r"TS-\d{8}-\d{4}", reply).group(0)  # type: ignore[union-attr]

    numbers = await asyncio.gather(*(file(user) for user in people))
    assert len(set(numbers)) == 5
    cases = await stored(running, Case)
    assert {c.case_no: c.contact_email for c in cases} == {
        number: f"user{user.id}@example.com" for number, user in zip(numbers, people, strict=True)
    }


async def test_a_blocked_bot_records_the_failed_receipt(api: FakeBotApi, running: Settings) -> None:
    fay = api.user(5007, "Fay", "en")
    for action, value, expect in [
        ("text", "Spam calls from your number", "Add more"),
        ("press", "Continue", "What is your name"),
        ("text", "Fay", "How can we reach you"),
        ("text", "13912345678", "What kind"),
        ("press", "Report of wrongdoing", "Which company"),
        ("text", "Example Co", "evidence"),
        ("press", "Skip", "What outcome"),
        ("text", "Stop it", "Please check"),
    ]:
        await step(fay, action, value, expect)
    fay.block()
    await fay.press("Confirm")

    (event,) = await eventually(
        lambda: stored(running, TimelineEvent, TimelineEvent.kind == "delivery_failed")
    )
    assert event.payload == {"kind": "receipt", "error": "Forbidden: bot was blocked by the user"}
    (case,) = await stored(running, Case)
    assert case.receipt_sent_at is None


async def test_a_long_description_is_kept_whole_and_shown_shortened(
    api: FakeBotApi, running: Settings
) -> None:
    gus = api.user(5008, "Gus", "en")
    part_one = ("The line drops every evening. " * 130).strip()
    part_two = ("Support never called back. " * 130).strip()
    for action, value, expect in [
        ("text", part_one, "Add more"),
        ("text", part_two, "Add more"),
        ("press", "Continue", "What is your name"),
        ("text", "Gus", "How can we reach you"),
        ("text", "gus@example.com", "What kind"),
        ("press", "Help request", "Which company"),
        ("text", "Example Co", "evidence"),
        ("press", "Skip", "What outcome"),
    ]:
        await step(gus, action, value, expect)
    summary = await step(gus, "text", "Fix the line", "Please check")
    assert len(summary) < 4096 and part_one[:100] in summary and "…" in summary
    await step(gus, "press", "Confirm", "accepted")
    (case,) = await stored(running, Case)
    assert case.description == part_one + "\n" + part_two


def test_long_texts_are_cut_at_line_breaks_within_the_limit() -> None:
    text = "\n".join(f"line {n} " + "x" * 50 for n in range(200))
    pieces = split_text(text, 4096)
    assert len(pieces) > 1 and all(len(p) <= 4096 for p in pieces)
    assert "\n".join(pieces) == text
    assert split_text("y" * 9000, 4096) == ["y" * 4096, "y" * 4096, "y" * 808]
