"""What a button carries can be forged: a value no button offers, a case that does not
exist, a rating pressed by someone other than the complainant. Each gets one clear
answer and changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.followup import FollowUpConfig
from bot.messages import InboundKind
from delivery.ports import OutboxStore
from storage.repository import SqlRepository
from tests.bot.test_followup import case_row, events, make_bot, resolve, sweep, timings
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import AgentsGroup, Chat, texts
from tests.support.clock import FakeClock
from tests.support.records import Records

GONE = "That button is no longer active."


@pytest.fixture
def followup(tmp_path: Path) -> FollowUpConfig:
    return timings(tmp_path)


@pytest.fixture
async def filed(
    repository: SqlRepository, outbox: OutboxStore, clock: FakeClock, followup: FollowUpConfig
) -> tuple[Chat, AgentsGroup, str]:
    alice = Chat(make_bot(repository, clock, followup), outbox, clock)
    receipt = await play(alice, ENGLISH_INTAKE)
    case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
    return alice, AgentsGroup(alice), case_no


async def test_a_forged_verification_value_gets_one_answer(filed, records: Records) -> None:
    _alice, group, case_no = filed
    thread = group.thread_of(case_no)
    asked = await group.say("li", f"/resolve {case_no} The double charge was refunded.", thread)
    assert "are the facts confirmed?" in texts(asked)
    forged = group.inbound(
        "li", InboundKind.BUTTON, button_data=f"res:{case_no}:facts:bogus", thread_id=thread
    )
    answer = await group.deliver(forged)
    assert [o.text for o in answer] == [GONE]
    assert (await case_row(records, case_no)).status != "resolved"
    # The real buttons still work afterwards.
    for label in ("Facts confirmed", "System fault", "Company responsible", "Minor"):
        await group.press("li", label)
    (done,) = await group.press("li", "Confirm and resolve")
    assert done.text.startswith(f"✅ {case_no} resolved by Agent li.")


async def test_a_claim_button_of_a_case_that_does_not_exist(filed) -> None:
    _alice, group, _case_no = filed
    forged = group.inbound("li", InboundKind.BUTTON, button_data="desk:claim:TS-20990101-9999")
    assert [o.text for o in await group.deliver(forged)] == [GONE]


async def test_a_rating_pressed_by_someone_else_is_refused(
    filed, records: Records, outbox: OutboxStore
) -> None:
    alice, group, case_no = filed
    await resolve(group, case_no)
    alice.clock.advance(minutes=11)
    await sweep(alice)
    assert "How satisfied" in texts(alice.mine()[-1:])

    mallory = Chat(alice.bot, outbox, alice.clock, alice.sender, user="6666")
    refused = await mallory.deliver(
        mallory.inbound(InboundKind.BUTTON, button_data=f"rate:{case_no}:1")
    )
    assert texts(refused) == GONE
    # Pressed in a group (the agents' or any other), it is nobody's own either.
    in_group = group.inbound("li", InboundKind.BUTTON, button_data=f"rate:{case_no}:1")
    await group.deliver(in_group)
    assert await events(records, case_no, "survey_answered") == []
    assert (await case_row(records, case_no)).status == "resolved"

    thanks = await alice.press("5 very satisfied")
    assert "Thank you for your rating (5/5)." in texts(thanks)


async def test_a_button_no_one_offered_gets_one_answer(filed) -> None:
    alice, _group, _case_no = filed
    for data in ("zzz", "rate:", "rate:TS-20990101-9999:3", "intake:nope:1", ""):
        answer = await alice.deliver(alice.inbound(InboundKind.BUTTON, button_data=data))
        assert len(answer) == 1, (data, texts(answer))
        assert answer[0].text.startswith(GONE), (data, texts(answer))
