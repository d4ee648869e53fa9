"""Deadlines, reminders, escalations and satisfaction surveys, moved by an injected clock."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.desk import DeskConfig
from bot.followup import FollowUpConfig, parse_rating
from bot.router import BotConfig, ComplaintBot
from scheduler.calendar import WorkdayCalendar
from scheduler.sla import load_policy
from storage.models import Case, TimelineEvent
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import AgentsGroup, Chat, RecordingSender, texts
from tests.support.clock import FakeClock
from tests.support.records import Records

DESK = DeskConfig(
    channel="test",
    conversation="agents",
    agent_ids=frozenset({"li", "wang"}),
    supervisor_ids=frozenset({"boss"}),
)
POLICY = """
[default]
receipt = "1h"
first_response = "1h"
resolution = "10h"
reminders = [0.5, 0.8]
escalate_after = "0s"
quiet_notice = ""
"""


def timings(tmp_path: Path, policy: str = POLICY, **overrides: object) -> FollowUpConfig:
    path = tmp_path / "sla.toml"
    path.write_text(policy, encoding="utf-8")
    values: dict[str, object] = {
        "policy": load_policy(path),
        "survey_delay": timedelta(minutes=10),
        "survey_reminder": timedelta(hours=1),
        "auto_archive": timedelta(hours=3),
    }
    values.update(overrides)
    return FollowUpConfig(**values)  # type: ignore[arg-type]


def make_bot(repository: SqlRepository, clock: FakeClock, followup: FollowUpConfig) -> ComplaintBot:
    config = BotConfig(desk=DESK, default_locale="en", followup=followup)
    return ComplaintBot(repository, config, clock)


@pytest.fixture
def followup(tmp_path: Path) -> FollowUpConfig:
    return timings(tmp_path)


@pytest.fixture
async def filed(repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock, followup):
    bot = make_bot(repository, clock, followup)
    alice = Chat(bot, outbox, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    return alice, AgentsGroup(alice), case_no


async def sweep(chat: Chat, bot: ComplaintBot | None = None) -> int:
    handled = await (bot or chat.bot).sweep()
    await chat.deliver_pending()
    return handled


async def events(records: Records, case_no: str, *kinds: str) -> list[TimelineEvent]:
    return await records.events(case_no, *kinds)


async def case_row(records: Records, case_no: str) -> Case:
    return await records.case(case_no)


def sent_to(chat: Chat, conversation: str) -> list[str]:
    return [o.text for o in chat.sender.sent if o.conversation == conversation]


async def test_the_receipt_states_the_deadlines_of_the_policy(filed, records) -> None:
    alice, _group, case_no = filed
    receipt = texts(alice.mine()[-1:])
    case = await case_row(records, case_no)
    assert case.response_due_at == case.received_at + timedelta(hours=1)
    assert case.resolution_due_at == case.received_at + timedelta(hours=10)
    assert case.receipt_due_at == case.received_at + timedelta(hours=1)
    local = (case.resolution_due_at).astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"We will resolve it by {local:%Y-%m-%d %H:%M} (Asia/Shanghai)." in receipt


async def test_reminders_fire_once_before_the_deadline_and_a_breach_escalates_once(
    filed, records, repository, clock, followup
) -> None:
    alice, group, case_no = filed
    received = (await case_row(records, case_no)).received_at
    thread = group.thread_of(case_no)

    clock.current = received + timedelta(minutes=29)
    assert await sweep(alice) == 0
    clock.current = received + timedelta(minutes=31)
    assert await sweep(alice) == 1
    (reminder,) = [p for p in group.posts(thread) if "⏰" in p.text]
    assert f"⏰ {case_no}: first response due in 29m" in reminder.text
    assert await sweep(alice) == 0

    # A restarted process (a new bot on the same database) does not remind again.
    restarted = make_bot(repository, clock, followup)
    assert await sweep(alice, restarted) == 0

    clock.current = received + timedelta(minutes=50)
    await sweep(alice, restarted)
    assert len([p for p in group.posts(thread) if "⏰" in p.text]) == 2

    clock.current = received + timedelta(hours=1, minutes=1)
    await sweep(alice, restarted)
    breach = [p.text for p in group.posts(thread) if "🚨" in p.text]
    assert breach == [
        f"🚨 {case_no} missed its first response deadline "
        f"({(received + timedelta(hours=1)).astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m-%d %H:%M});"
        " supervisors are told."
    ]
    (to_boss,) = sent_to(alice, "boss")
    assert to_boss.startswith(breach[0])
    for _ in range(2):
        assert await sweep(alice, restarted) == 0
    assert len(sent_to(alice, "boss")) == 1
    recorded = [
        (e.kind, e.payload["limit"])
        for e in await events(records, case_no, "reminder", "deadline_missed")
    ]
    assert recorded == [
        ("reminder", "first_response"),
        ("reminder", "first_response"),
        ("deadline_missed", "first_response"),
    ]
    assert (await case_row(records, case_no)).escalated_at == clock.now()


async def test_an_answered_case_is_not_reminded_of_its_first_response(
    filed, records, clock
) -> None:
    alice, group, case_no = filed
    received = (await case_row(records, case_no)).received_at
    await group.say("li", "We are looking into it.", thread=group.thread_of(case_no))
    clock.current = received + timedelta(hours=2)
    await sweep(alice)
    kinds = [(e.kind, e.payload.get("limit")) for e in await events(records, case_no)]
    assert ("reminder", "first_response") not in kinds
    assert ("deadline_missed", "first_response") not in kinds
    # The resolution limit (10h) is still watched: its 50% reminder is not due yet.
    clock.current = received + timedelta(hours=5, minutes=1)
    await sweep(alice)
    reminders = await events(records, case_no, "reminder")
    assert [e.payload["limit"] for e in reminders] == ["resolution"]


async def resolve(group: AgentsGroup, case_no: str) -> None:
    await group.say(
        "li",
        f"/resolve {case_no} facts=confirmed nature=system_fault responsibility=company "
        "severity=minor The double charge was refunded.",
    )


async def test_a_satisfied_rating_archives_and_a_comment_is_kept(filed, records, clock) -> None:
    alice, group, case_no = filed
    await resolve(group, case_no)
    clock.advance(minutes=9)
    await sweep(alice)
    assert "How satisfied" not in texts(alice.mine()[-1:])
    clock.advance(minutes=2)
    await sweep(alice)
    survey = alice.mine()[-1]
    assert f"How satisfied are you with how we handled your complaint {case_no}?" in survey.text
    assert "Reply with a digit from 1 to 5" in survey.text
    assert [b.label for row in survey.buttons for b in row][-1] == "5 very satisfied"

    thanks = await alice.press("5 very satisfied")
    assert "Thank you for your rating (5/5)." in texts(thanks)
    assert (await case_row(records, case_no)).status == "archived"
    again = await alice.press("4 satisfied")
    assert "That button is no longer active." in texts(again)

    noted = await alice.say("Quick and polite, thanks.")
    assert "Thank you, your comment is on file." in texts(noted)
    (row,) = await records.surveys()
    assert (row.score, row.outcome, row.comment) == (5, "satisfied", "Quick and polite, thanks.")
    assert ["⭐" in p.text for p in group.posts()].count(True) == 1
    kinds = [e.kind for e in await events(records, case_no)]
    for kind in ("survey_sent", "survey_answered", "archived", "survey_comment"):
        assert kinds.count(kind) == 1, kind
    # Nothing else is due for an archived case.
    clock.advance(hours=5)
    assert await sweep(alice) == 0


async def test_a_low_rating_reopens_escalates_and_the_next_resolution_asks_again(
    filed, records, clock
) -> None:
    alice, group, case_no = filed
    await resolve(group, case_no)
    clock.advance(minutes=11)
    await sweep(alice)
    sorry = await alice.say("２")  # a full-width digit typed as text counts
    assert f"Your complaint {case_no} has been reopened" in texts(sorry)
    case = await case_row(records, case_no)
    assert (case.status, case.reopened_count) == ("reopened", 1)
    assert case.escalated_at == clock.now()
    assert any("rated 2/5: reopened and escalated" in t for t in sent_to(alice, "boss"))
    # The fresh resolution limit counts from the reopening.
    assert case.resolution_due_at == clock.now() + timedelta(hours=10)

    await resolve(group, case_no)
    clock.advance(minutes=11)
    await sweep(alice)
    assert "How satisfied" in alice.mine()[-1].text
    await alice.say("4")
    rounds = [(s.round, s.score, s.outcome) for s in await records.surveys()]
    assert rounds == [(1, 2, "unsatisfied"), (2, 4, "satisfied")]
    assert (await case_row(records, case_no)).status == "archived"


async def test_an_unanswered_survey_is_reminded_once_then_archived_as_no_answer(
    filed, records, clock
) -> None:
    alice, group, case_no = filed
    await resolve(group, case_no)
    clock.advance(minutes=11)
    await sweep(alice)
    clock.advance(minutes=61)
    await sweep(alice)
    assert "A reminder: how satisfied are you" in alice.mine()[-1].text
    clock.advance(minutes=61)
    assert await sweep(alice) == 0
    clock.advance(hours=1)
    await sweep(alice)
    case = await case_row(records, case_no)
    assert case.status == "archived"
    # Retention (RETENTION_DAYS) counts from here; nothing is erased yet.
    assert (case.archived_at, case.erased_at) == (clock.now(), None)
    (row,) = await records.surveys()
    assert (row.score, row.outcome) == (None, "no_answer")
    assert [e.payload for e in await events(records, case_no, "archived")] == [
        {"reason": "no_answer"}
    ]
    assert sum("A reminder" in t for t in sent_to(alice, alice.user)) == 1
    # A digit sent later is not a rating of an archived case.
    late = await alice.say("5")
    assert "Thank you for your rating" not in texts(late)


async def test_waiting_for_the_complainant_stops_the_resolution_clock(
    filed, records, clock
) -> None:
    alice, group, case_no = filed
    before = (await case_row(records, case_no)).resolution_due_at
    assert before is not None
    await group.say("li", "/info Which number was charged?", thread=group.thread_of(case_no))
    clock.advance(hours=6)  # past the 50% reminder, which must not fire while waiting
    await sweep(alice)
    assert await events(records, case_no, "reminder") == []
    await alice.say("13812345678")
    after = (await case_row(records, case_no)).resolution_due_at
    assert after is not None and timedelta(hours=6) <= after - before <= timedelta(
        hours=6, seconds=10
    )
    (resumed,) = await events(records, case_no, "clock_resumed")
    assert resumed.payload["resolution_due_at"] == after.isoformat()


async def test_extend_and_category_change_move_deadlines_on_the_record(
    filed, records, clock
) -> None:
    alice, group, case_no = filed
    thread = group.thread_of(case_no)
    refused = await group.say("li", "/extend 2h", thread=thread)
    assert "Write how long and why" in texts(refused)
    before = (await case_row(records, case_no)).resolution_due_at
    assert before is not None
    mark = len(alice.mine())
    await group.say("li", "/extend 2h Waiting for the billing department", thread=thread)
    after = (await case_row(records, case_no)).resolution_due_at
    assert after == before + timedelta(hours=2)
    told = texts(alice.mine()[mark:])
    assert "We need more time for your complaint" in told
    assert "Reason: Waiting for the billing department" in told
    (extended,) = await events(records, case_no, "deadline_extended")
    assert extended.actor == "agent:1" and extended.payload["by"] == "2h"

    wrong = await group.say("li", "/category nonsense", thread=thread)
    assert "Which category? One of: consultation" in texts(wrong)
    await group.say("li", "/category suggestion", thread=thread)
    case = await case_row(records, case_no)
    assert case.category == "suggestion"
    # Recomputed from when the case was received, by the policy (the same here).
    assert case.resolution_due_at == case.received_at + timedelta(hours=10)
    changed = await events(records, case_no, "category_changed", "deadlines_set")
    assert [e.kind for e in changed] == [
        "category_changed",
        "deadlines_set",
    ]


async def test_staff_notices_wait_for_working_hours(
    tmp_path: Path, repository, outbox, clock, records
) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    office = WorkdayCalendar(shanghai)
    policy = """
[default]
first_response = "3h"
resolution = "5wd"
reminders = [0.5]
"""
    bot = make_bot(repository, clock, timings(tmp_path, policy, calendar=office))
    alice = Chat(bot, outbox, clock)
    clock.current = clock.current.replace(day=23, hour=9, minute=30)  # Mon 17:30 Shanghai
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    received = (await case_row(records, case_no)).received_at
    # The reminder (due about 19:00) and the breach (about 20:30) fall at night: put off.
    clock.current = received + timedelta(hours=4)
    await sweep(alice)
    clock.current = received.replace(day=24, hour=0, minute=59)  # Tue 08:59
    await sweep(alice)
    assert await events(records, case_no, "reminder", "deadline_missed") == []
    assert sent_to(alice, "boss") == []
    clock.current = received.replace(day=24, hour=1, minute=5)  # Tue 09:05
    await sweep(alice)
    # At the opening the deadline has passed: the escalation speaks, the stale
    # reminder is dropped.
    fired = await events(records, case_no, "reminder", "deadline_missed")
    assert [(e.kind, f"{e.at.astimezone(shanghai):%a %H:%M}") for e in fired] == [
        ("deadline_missed", "Tue 09:05")
    ]
    assert len(sent_to(alice, "boss")) == 1


@pytest.mark.parametrize(
    ("text", "score"), [("5", 5), (" 1 ", 1), ("３", 3), ("4.", 4), ("6", None), ("45", None)]
)
def test_a_rating_is_one_digit(text: str, score: int | None) -> None:
    assert parse_rating(text) == score


async def test_workers_sweeping_at_once_fire_each_timer_once(
    engine, records, outbox, clock, followup, tmp_path: Path
) -> None:
    # Two processes: each its own repository (its own in-process locks) on one database.
    first = make_bot(SqlRepository(engine, tmp_path / "data"), clock, followup)
    second = make_bot(SqlRepository(engine, tmp_path / "data"), clock, followup)
    numbers = []
    sender = RecordingSender()
    for user in ("2001", "2002", "2003"):
        chat = Chat(first, outbox, clock, sender, user=user)
        receipt = await play(chat, ENGLISH_INTAKE)
        numbers.append(re.search(r"TS-\d{8}-\d{4}", receipt).group(0))  # type: ignore[union-attr]
    clock.advance(hours=2)
    handled = await asyncio.gather(first.sweep(), second.sweep(), first.sweep())
    # Per case: two first-response reminders are stale (past their deadline) and
    # dropped, the receipt's escalation dropped (sent), one breach escalated.
    assert sum(handled) == 3 * 4
    for case_no in numbers:
        missed = await events(records, case_no, "deadline_missed")
        assert [e.payload["limit"] for e in missed] == ["first_response"]
    assert await first.sweep() == 0


async def test_a_rating_reaches_only_the_raters_own_case(
    repository, outbox, clock, followup, records
) -> None:
    # Two Telegram users who typed the same email are one complainant on record, but
    # neither may rate (or write into) the other's case.
    bot = make_bot(repository, clock, followup)
    sender = RecordingSender()
    first, second = (Chat(bot, outbox, clock, sender, user=u) for u in ("3001", "3002"))
    numbers = []
    for chat in (first, second):
        receipt = await play(chat, ENGLISH_INTAKE)
        numbers.append(re.search(r"TS-\d{8}-\d{4}", receipt).group(0))  # type: ignore[union-attr]
    group = AgentsGroup(first)
    for case_no in numbers:
        await resolve(group, case_no)
    clock.advance(minutes=11)
    await sweep(first)
    await first.say("2")
    assert [(await case_row(records, n)).status for n in numbers] == ["reopened", "resolved"]
    await second.say("5")
    assert (await case_row(records, numbers[1])).status == "archived"


async def test_a_quiet_case_gets_a_progress_notice_counted_from_the_last_contact(
    tmp_path: Path, repository, outbox, clock, records
) -> None:
    policy = POLICY.replace('quiet_notice = ""', 'quiet_notice = "2h"')
    bot = make_bot(repository, clock, timings(tmp_path, policy))
    alice = Chat(bot, outbox, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    group = AgentsGroup(alice)
    received = (await case_row(records, case_no)).received_at

    def notices() -> int:
        return sum("is still being handled" in t for t in sent_to(alice, alice.user))

    clock.current = received + timedelta(hours=2, minutes=1)
    await sweep(alice)
    assert notices() == 1
    clock.current = received + timedelta(hours=3)
    await group.say("li", "We are on it.", thread=group.thread_of(case_no))
    # Two hours after the notice, but only one after the agent's reply: nothing yet.
    clock.current = received + timedelta(hours=4, minutes=2)
    await sweep(alice)
    assert notices() == 1
    clock.current = received + timedelta(hours=5, minutes=2)
    await sweep(alice)
    assert notices() == 2
    assert len(await events(records, case_no, "progress_notice")) == 2


async def test_many_notices_at_once_are_digested_in_the_deadlines_thread(
    repository, outbox, clock, followup, records
) -> None:
    bot = make_bot(repository, clock, followup)
    await bot.open_desk()
    await make_bot(repository, clock, followup).open_desk()  # a restart opens no second
    first = Chat(bot, outbox, clock, user="2000")
    await first.deliver_pending()
    group = AgentsGroup(first)
    (opener,) = [p for p in group.posts() if p.new_thread == "⏰ Deadlines"]
    deadlines = str(first.sender.sent.index(opener) + 1)
    others = (Chat(bot, outbox, clock, first.sender, user=str(2001 + n)) for n in range(5))
    people = [first, *others]
    case_nos = []
    for person in people:
        receipt = await play(person, ENGLISH_INTAKE)
        case_nos.append(re.search(r"TS-\d{8}-\d{4}", receipt).group(0))  # type: ignore[union-attr]
    earliest = (await case_row(records, case_nos[0])).received_at
    before = len(first.sender.sent)

    clock.current = earliest + timedelta(minutes=36)  # every case's first reminder is due
    assert await sweep(first) == 6

    posted = first.sender.sent[before:]
    digest = posted[0]  # ahead of the notices it lists
    assert digest.thread == deadlines
    assert digest.text.startswith("⏰ 6 deadline notices")
    listed = digest.text.splitlines()[1:]
    assert sorted(line.split(":")[0] for line in listed) == sorted(
        f"• ⏰ {case_no}" for case_no in case_nos
    )
    for case_no in case_nos:  # each case's thread still gets its own reminder
        (reminder,) = [p for p in group.posts(group.thread_of(case_no)) if "⏰" in p.text]
        assert reminder.text.startswith(f"⏰ {case_no}: first response due in")
        assert f"• {reminder.text.splitlines()[0]}" in listed

    # A sweep with only a few notices posts them without a digest.
    clock.current = earliest + timedelta(minutes=49)
    before = len(first.sender.sent)
    assert 0 < await sweep(first) < 5
    assert not [p for p in first.sender.sent[before:] if p.thread == deadlines]
