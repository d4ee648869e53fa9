"""The agents' desk without a transport: the group, the complainant and the CLI's entry."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.agents import Operator
from bot.desk import DeskConfig
from bot.messages import InboundKind
from bot.router import BotConfig, ComplaintBot
from storage.models import Agent, Case, TimelineEvent
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import AgentsGroup, Chat, texts
from tests.support.clock import FakeClock
from tests.support.records import Records

DESK = DeskConfig(
    channel="test",
    conversation="agents",
    agent_ids=frozenset({"li", "wang"}),
    supervisor_ids=frozenset({"boss"}),
)


@pytest.fixture
def desk_bot(repository: SqlRepository, clock: FakeClock) -> ComplaintBot:
    return ComplaintBot(repository, BotConfig(desk=DESK, default_locale="en"), clock)


@pytest.fixture
async def filed(desk_bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock):
    """A complainant (Alice) whose case is on the desk, and the agents' group."""
    alice = Chat(desk_bot, outbox, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    group = AgentsGroup(alice)
    return alice, group, case_no


def texts_of(answers: list[str]) -> str:
    return "\n".join(answers)


async def case_row(records: Records, case_no: str) -> Case:
    return await records.case(case_no)


async def timeline(records: Records, case_no: str) -> list[TimelineEvent]:
    return await records.events(case_no)


async def agent_row(records: Records, agent_id: int | None) -> Agent | None:
    return next((a for a in await records.agents() if a.id == agent_id), None)


async def test_a_new_case_gets_a_card_with_every_field_in_its_own_thread(filed) -> None:
    _alice, group, case_no = filed
    (card,) = group.posts()
    assert card.new_thread == f"{case_no} · Appeal · Alice Wang"
    for field in (
        "Alice Wang",
        "+8613812345678",
        "alice@example.com",
        "Example Telecom, ICP 京B2-20260001",
        "I was charged 30 yuan and I don't know why\nIt was on last month's bill.",
        "A refund and an explanation",
        "Respond by: ",
        "Status: acknowledged · Handler: unassigned",
    ):
        assert field in card.text
    assert [b.label for row in card.buttons for b in row] == ["Claim"]


async def test_the_full_loop_between_agent_and_complainant(filed, records: Records) -> None:
    alice, group, case_no = filed
    thread = group.thread_of(case_no)

    posted = await group.press("li", "Claim")
    assert f"{case_no} is now handled by Agent li" in texts(posted)
    assert f"Your complaint {case_no} is now being handled by Agent No. 1" in texts(alice.mine())

    mark = len(alice.mine())
    await group.say("li", "/info Which phone number was charged?", thread=thread)
    asked = texts(alice.mine()[mark:])
    assert "Agent No. 1 needs more information" in asked
    assert "Which phone number was charged?" in asked
    assert (await case_row(records, case_no)).status == "awaiting_user"

    posts = len(group.posts())
    answer = await alice.send_file("bill.jpg", b"\xff\xd8 bill", caption="This number")
    assert f"Added to your case {case_no}" in texts(answer)
    (relayed,) = group.posts()[posts:]
    assert relayed.thread == thread and "💬 Alice Wang:\nThis number" in relayed.text
    assert [(f.name, f.data) for f in relayed.files] == [("bill.jpg", b"\xff\xd8 bill")]
    assert (await case_row(records, case_no)).status == "in_progress"

    mark = len(alice.mine())
    await group.say("li", "We found a double charge and refunded it.", thread=thread)
    (reply,) = alice.mine()[mark:]
    assert reply.text == f"Agent No. 1 (case {case_no}):\nWe found a double charge and refunded it."
    case = await case_row(records, case_no)
    assert case.first_response_at is not None

    await group.say("li", "/note Refund ticket R-77 in billing", thread=thread)
    assert "R-77" not in texts(alice.mine())

    mark = len(alice.mine())
    shown = len(group.shown(thread))
    await group.say("li", "/resolve The double charge of 30 yuan was refunded.", thread=thread)
    for label in ("Facts confirmed", "System fault", "Company responsible", "Minor"):
        await group.press("li", label)
    assert "has been resolved" not in texts(alice.mine()[mark:])
    await group.press("li", "Confirm and resolve")
    # The verification was one message, changed in place; it ends showing the outcome.
    (outcome,) = group.shown(thread)[shown:]
    assert outcome.text == (
        f"✅ {case_no} resolved by Agent li.\n"
        "Result: The double charge of 30 yuan was refunded.\n"
        "Facts confirmed · System fault · Company responsible · Minor"
    )
    assert outcome.buttons == ()
    told = texts(alice.mine()[mark:])
    assert f"Your complaint {case_no} has been resolved." in told
    assert "Result: The double charge of 30 yuan was refunded." in told

    case = await case_row(records, case_no)
    assert case.status == "resolved" and case.resolved_at is not None
    assert case.verification == {
        "facts": "confirmed",
        "nature": "system_fault",
        "responsibility": "company",
        "severity": "minor",
    }
    again = await group.say("li", "/resolve Again", thread=thread)
    assert f"{case_no} is already resolved; /reopen it first." in texts(again)

    mark = len(alice.mine())
    await group.say("wang", "/reopen", thread=thread)
    assert "has been reopened" in texts(alice.mine()[mark:])
    assert (await case_row(records, case_no)).status == "reopened"

    events = [(e.actor, e.kind) for e in await timeline(records, case_no)]
    assert ("agent:1", "claimed") in events
    assert ("agent:1", "info_requested") in events
    assert ("agent:1", "note") in events
    assert ("agent:1", "resolved") in events
    assert ("agent:2", "reopened") in events
    assert [k for _a, k in events].count("complainant_message") == 1
    statuses = [
        (e.payload["from"], e.payload["to"])
        for e in await timeline(records, case_no)
        if e.kind == "status_changed"
    ]
    assert statuses == [
        ("acknowledged", "in_progress"),
        ("in_progress", "awaiting_user"),
        ("awaiting_user", "in_progress"),
        ("in_progress", "resolved"),
        ("resolved", "reopened"),
    ]


async def test_the_verification_is_one_message_edited_in_place_across_a_restart(
    filed, records: Records, repository: SqlRepository, clock: FakeClock
) -> None:
    alice, group, case_no = filed
    thread = group.thread_of(case_no)
    shown = len(group.shown(thread))
    (asked,) = await group.say("li", f"/resolve {case_no} facts=confirmed Refunded.")
    assert asked.text.split("\n") == [
        "Result: Refunded.",
        "Facts confirmed",
        f"Verification of {case_no} — what was the nature of it?",
    ]
    assert [row[0].label for row in asked.buttons][-1] == "Cancel"
    question = group.chat.message_id(asked)

    (edit,) = await group.press("li", "System fault")
    assert edit.edit == question and edit.text.endswith("who was responsible?")
    # A new process: the answers so far are in the store, not in the bot.
    alice.bot = ComplaintBot(repository, BotConfig(desk=DESK, default_locale="en"), clock)
    (edit,) = await group.press("li", "Partner responsible")
    assert edit.edit == question and "Facts confirmed · System fault · Partner responsible" in (
        edit.text
    )
    (edit,) = await group.press("li", "Serious")
    assert edit.text.endswith(f"Verification of {case_no} complete. Resolve the case with it?")
    assert [[b.label for b in row] for row in edit.buttons] == [
        ["Confirm and resolve"],
        ["Change the answers", "Cancel"],
    ]
    assert (await case_row(records, case_no)).status != "resolved"

    # Change: asked again from the first part, still in the same message.
    (edit,) = await group.press("li", "Change the answers")
    assert edit.edit == question and edit.text.endswith("are the facts confirmed?")
    for label in ("Facts not confirmed", "User error", "User responsible", "Minor"):
        (edit,) = await group.press("li", label)
        assert edit.edit == question
    await group.press("li", "Confirm and resolve")
    (outcome,) = group.shown(thread)[shown:]
    assert outcome.text.startswith(f"✅ {case_no} resolved by Agent li.")
    case = await case_row(records, case_no)
    assert (case.status, case.resolution) == ("resolved", "Refunded.")
    assert case.verification == {
        "facts": "not_confirmed",
        "nature": "user_error",
        "responsibility": "user",
        "severity": "minor",
    }
    assert "has been resolved" in texts(alice.mine()[-1:])
    # The message's old buttons do nothing more.
    gone = await group.deliver(
        group.inbound("li", InboundKind.BUTTON, button_data=f"res:{case_no}:confirm")
    )
    assert texts(gone) == "That button is no longer active."


async def test_a_cancelled_verification_resolves_nothing(filed, records: Records) -> None:
    _alice, group, case_no = filed
    thread = group.thread_of(case_no)
    shown = len(group.shown(thread))
    await group.say("li", "/resolve Refunded.", thread=thread)
    await group.press("li", "Facts confirmed")
    await group.press("li", "Cancel")
    (cancelled,) = group.shown(thread)[shown:]
    assert cancelled.text == f"Resolution of {case_no} cancelled by Agent li."
    assert cancelled.buttons == ()
    assert (await case_row(records, case_no)).status == "acknowledged"


async def test_resolve_accepts_the_verification_as_arguments(filed, records: Records) -> None:
    _alice, group, case_no = filed
    thread = group.thread_of(case_no)
    wrong = await group.say("li", "/resolve nature=bad Text", thread=thread)
    assert "Allowed: nature: user_error, misunderstood_policy" in texts(wrong)
    await group.say(
        "li",
        f"/resolve {case_no} facts=not_confirmed nature=misunderstood_policy "
        "responsibility=user severity=minor The fee is in the plan you chose.",
    )
    case = await case_row(records, case_no)
    assert (case.status, case.resolution) == ("resolved", "The fee is in the plan you chose.")
    assert case.verification and case.verification["nature"] == "misunderstood_policy"
    # Resolving an unclaimed case makes the resolver its handler, on the record.
    kinds = [(e.actor, e.kind) for e in await timeline(records, case_no)]
    assert kinds.index(("agent:1", "claimed")) < kinds.index(("agent:1", "resolved"))


async def test_only_agents_work_cases(filed, records: Records) -> None:
    alice, group, case_no = filed
    thread = group.thread_of(case_no)
    refused = await group.say("stranger", "/resolve Closed by me", thread=thread)
    assert texts(refused) == "Only agents can do this."
    private = await alice.say(f"/resolve {case_no} I fixed it myself")
    assert texts(private) == "This command is only for agents, in the agents' group."
    relayed = len(alice.mine())
    await group.say("stranger", "Hello there", thread=thread)
    assert len(alice.mine()) == relayed  # a non-agent's message never reaches the user
    assert (await case_row(records, case_no)).status == "acknowledged"


async def test_commands_need_a_case_and_name_unknown_ones(filed) -> None:
    _alice, group, _case_no = filed
    nowhere = await group.say("li", "/claim")
    assert "Which case?" in texts(nowhere)
    unknown = await group.say("li", "/case TS-20990101-0001")
    assert "No case TS-20990101-0001." in texts(unknown)


async def test_assign_escalate_cases_and_case(filed, records: Records, clock: FakeClock) -> None:
    _alice, group, case_no = filed
    thread = group.thread_of(case_no)
    await group.say("wang", "Morning all")  # wang is known from now on
    unknown = await group.say("li", "/assign @nobody", thread=thread)
    assert "Whom to?" in texts(unknown)
    await group.say("li", "/assign @wang", thread=thread)
    case = await case_row(records, case_no)
    handler = await agent_row(records, case.handler_id)
    assert handler is not None and handler.external_id == "wang"

    escalated = await group.say("wang", "/escalate Customer threatens to go to MIIT", thread=thread)
    assert "escalated to the supervisors by Agent wang" in texts(escalated)
    to_boss = [o for o in group.chat.sender.sent if o.conversation == "boss"]
    assert to_boss and "Customer threatens to go to MIIT" in to_boss[0].text

    clock.advance(hours=49)  # past the appeal's 48-hour limit
    listed = texts(await group.say("li", "/cases"))
    assert f"⚠️ {case_no} · in progress" in listed and "Agent wang" in listed
    card = texts(await group.say("li", f"/case {case_no}"))
    assert "Status: in progress · Handler: Agent wang" in card


async def test_a_blocked_complainant_shows_as_not_delivered(filed) -> None:
    from delivery.sending import DeliveryError

    alice, group, case_no = filed
    thread = group.thread_of(case_no)
    alice.sender.failures.append(
        DeliveryError("Forbidden: bot was blocked by the user", permanent=True)
    )
    alice.dispatcher.on_failure = alice.bot.report_undelivered
    posted = await group.say("li", "Could you call us?", thread=thread)
    assert any(
        "Not delivered to the complainant: Forbidden: bot was blocked by the user" in p.text
        for p in posted
    )


async def test_the_cli_works_cases_under_the_same_rules(filed, records: Records) -> None:
    alice, group, case_no = filed
    bot = alice.bot
    answers = await bot.operate(Operator("Zhao"), "reply", case_no, "We are checking your bill.")
    assert answers == (True, ["Sent to the complainant."])
    await alice.deliver_pending()
    assert "We are checking your bill." in texts(alice.mine())
    assert any("📤 Zhao: We are checking your bill." in p.text for p in group.posts())
    partial = await bot.operate(Operator("Zhao"), "resolve", case_no, "facts=confirmed Done")
    assert partial == (
        False,
        ["Give the whole verification: facts=… nature=… responsibility=… severity=… TEXT"],
    )
    await bot.operate(
        Operator("Zhao"),
        "resolve",
        case_no,
        "facts=confirmed nature=poor_service responsibility=company severity=moderate Sorry.",
    )
    case = await case_row(records, case_no)
    assert case.status == "resolved"
    actors = {e.actor for e in await timeline(records, case_no) if e.kind == "resolved"}
    assert len(actors) == 1 and actors.pop().startswith("agent:")
    again = await bot.operate(
        Operator("Zhao"),
        "resolve",
        case_no,
        "facts=confirmed nature=poor_service responsibility=company severity=moderate Again.",
    )
    assert again == (False, [f"{case_no} is already resolved; /reopen it first."])
    missing = await bot.operate(Operator("Zhao"), "note", "TS-20990101-0001", "x")
    assert missing == (False, ["No case TS-20990101-0001."])


async def test_a_complainants_edit_reaches_the_thread_with_both_versions(
    filed, records: Records
) -> None:
    alice, group, case_no = filed
    await alice.say("The charge was 30 yuan")
    message_id = alice.last_message_id
    posts = len(group.posts())
    await alice.edit(message_id, "The charge was 50 yuan")
    (edit,) = group.posts()[posts:]
    assert edit.thread == group.thread_of(case_no)
    assert "Before: The charge was 30 yuan" in edit.text
    assert "After: The charge was 50 yuan" in edit.text
    (event,) = [e for e in await timeline(records, case_no) if e.kind.endswith("_edited")]
    assert event.payload == {"before": "The charge was 30 yuan", "after": "The charge was 50 yuan"}


async def test_assign_by_replying_to_the_agents_message(filed, records: Records) -> None:
    _alice, group, case_no = filed
    thread = group.thread_of(case_no)
    await group.say("li", "/claim", thread=thread)
    await group.say("wang", "I know this customer", thread=thread)
    wang_message = group.chat.last_message_id
    await group.say("li", "/assign", thread=thread, reply_to=wang_message)
    case = await case_row(records, case_no)
    handler = await agent_row(records, case.handler_id)
    assert handler is not None and handler.external_id == "wang"


async def test_without_an_agents_group_the_cli_still_moves_deadlines_and_plans_the_survey(
    repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    bot = ComplaintBot(repository, BotConfig(default_locale="en"), clock)
    alice = Chat(bot, outbox, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    before = (await case_row(records, case_no)).resolution_due_at
    assert before is not None

    done, answers = await bot.operate(Operator("Zhao"), "extend", case_no, "2d Waiting for billing")
    # The operator is told what the case's thread would have been told.
    assert done and [a.split(" to ")[0] for a in answers] == [f"⏳ Zhao extended {case_no}"]
    assert (await case_row(records, case_no)).resolution_due_at == before + timedelta(days=2)
    await alice.deliver_pending()
    assert "Reason: Waiting for billing" in texts(alice.mine())

    resolved = await bot.operate(
        Operator("Zhao"),
        "resolve",
        case_no,
        "facts=confirmed nature=poor_service responsibility=company severity=moderate Sorry.",
    )
    assert resolved[0] and f"✅ {case_no} resolved by Zhao." in texts_of(resolved[1])
    case = await case_row(records, case_no)
    surveys = [s for s in await records.surveys() if s.case_id == case.id]
    assert [s.round for s in surveys] == [1]
