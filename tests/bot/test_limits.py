"""The inbound limit as complainants meet it: a flooder is told once and kept, not served;
nobody else notices. Runs on every backend."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.limits import Bucket, InboundLimit, take
from bot.messages import ConversationStyle, Inbound, InboundKind, Outbound
from bot.router import BotConfig, ComplaintBot
from bot.staff import DeskConfig
from delivery.dispatcher import Dispatcher
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from tests.support.chat import AgentsGroup, Chat, RecordingSender, texts
from tests.support.clock import FakeClock
from tests.support.records import Records

NOTICE = "You are sending messages faster than we can read them"
NOTICE_ZH = "您发消息的速度太快了"
DESK = DeskConfig(channel="test", conversation="agents", agent_ids=frozenset({"li"}))
_ids = itertools.count(1)


def config(per_minute: int = 60, burst: int = 20, **more: object) -> BotConfig:
    return BotConfig(
        desk=DESK, default_locale="en", inbound_limit=InboundLimit(per_minute, burst), **more
    )  # type: ignore[arg-type]


@pytest.fixture
def limited_bot(repository: SqlRepository, clock: FakeClock) -> ComplaintBot:
    return ComplaintBot(repository, config(), clock)


def at_once(chat: Chat, text: str, **fields: object) -> Inbound:
    """A message from `chat`'s person at this very instant (`Chat.say` moves the clock)."""
    number = next(_ids)
    fields.setdefault("kind", InboundKind.TEXT)
    return Inbound(
        channel="test",
        transport_id=f"flood-{number}",
        conversation=chat.user,
        sender_id=chat.user,
        sender_name="Flo Oder",
        language_code=chat.language_code,
        received_at=chat.clock.now(),
        text=text,
        message_id=f"flood-{number}",
        **fields,  # type: ignore[arg-type]
    )


async def flood(chat: Chat, count: int, text: str = "again and again") -> list[Outbound]:
    replies: list[Outbound] = []
    for n in range(count):
        replies += await chat.deliver(at_once(chat, f"{text} {n}"))
    return replies


def notices(replies: list[Outbound], notice: str = NOTICE) -> int:
    return sum(notice in reply.text for reply in replies)


async def test_a_flooder_gets_one_notice_and_everything_is_stored(
    limited_bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    flo = Chat(limited_bot, outbox, clock, user="flo")
    replies = await flood(flo, 50)
    # The burst (20) is answered as usual, the 21st gets the notice, the rest nothing.
    assert sum("Add more if you like" in reply.text for reply in replies) == 20
    assert notices(replies) == 1
    assert NOTICE in replies[-1].text
    inbound = [m for m in await records.messages("in") if m.conversation == "flo"]
    assert len(inbound) == 50  # nothing lost
    assert {m.text for m in inbound} == {f"again and again {n}" for n in range(50)}


async def test_messages_over_the_limit_are_not_acted_on(
    limited_bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    flo = Chat(limited_bot, outbox, clock, user="flo")
    await flood(flo, 21)
    cancel = at_once(flo, "/cancel", kind=InboundKind.COMMAND, command="cancel")
    assert await flo.deliver(cancel) == []
    clock.advance(seconds=2)  # two tokens back: served again, the draft still there
    replies = await flo.say("one more thing")
    assert "Add more if you like" in texts(replies)
    assert notices(replies) == 0


async def test_other_people_are_answered_during_a_flood(
    limited_bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    sender = RecordingSender()
    flo = Chat(limited_bot, outbox, clock, sender, user="flo")
    ann = Chat(limited_bot, outbox, clock, sender, user="ann")
    await flood(flo, 30)
    replies = await ann.deliver(at_once(ann, "My parcel never came"))
    assert "Add more if you like" in texts(replies)
    assert notices(ann.mine()) == 0
    assert notices(flo.mine()) == 1


async def test_served_again_at_the_allowed_rate_and_told_again_only_after_a_quiet_spell(
    limited_bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    flo = Chat(limited_bot, outbox, clock, user="flo")
    assert notices(await flood(flo, 25)) == 1
    # One message a second is within the limit: each is answered, no further notice.
    for _ in range(5):
        clock.advance(seconds=1)
        replies = await flo.deliver(at_once(flo, "slower now"))
        assert "Add more if you like" in texts(replies)
    # Flooding again before the bucket is full: still no second notice.
    assert notices(await flood(flo, 10)) == 0
    # Quiet long enough for a whole burst (20 s): a new flood is a new one, told again.
    clock.advance(seconds=21)
    assert notices(await flood(flo, 21)) == 1


async def test_a_backlog_is_judged_by_when_it_was_written(
    limited_bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    """Thirty messages written at one every two seconds while the bot was stopped (or the
    database down), all handled at once a quarter of an hour later: nobody flooded."""
    ann = Chat(limited_bot, outbox, clock, user="ann")
    written = [clock.now() + timedelta(seconds=2 * n) for n in range(30)]
    clock.advance(minutes=15)
    replies: list[Outbound] = []
    for n, at in enumerate(written):
        replies += await ann.deliver(replace(at_once(ann, f"part {n}"), received_at=at))
    assert sum("Add more if you like" in reply.text for reply in replies) == 30
    assert notices(replies) == 0


async def test_the_notice_is_in_the_persons_language(
    limited_bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    mei = Chat(limited_bot, outbox, clock, user="mei", language_code="zh-hans")
    replies = await flood(mei, 21, "我要投诉")
    assert notices(replies, NOTICE_ZH) == 1
    assert notices(replies) == 0


async def test_the_bucket_outlives_a_restart(
    repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock
) -> None:
    flo = Chat(ComplaintBot(repository, config(), clock), outbox, clock, user="flo")
    await flood(flo, 20)
    flo.bot = ComplaintBot(repository, config(), clock)  # a new process, the same store
    replies = await flood(flo, 2)
    assert notices(replies) == 1
    assert len(replies) == 1


async def test_agents_are_never_limited(
    limited_bot: ComplaintBot, outbox: SqlOutbox, clock: FakeClock
) -> None:
    group = AgentsGroup(Chat(limited_bot, outbox, clock, user="flo"))
    answered = 0
    for _ in range(30):  # thirty commands in the same second
        inbound = group.inbound("li", InboundKind.COMMAND, text="/cases", command="cases")
        clock.advance(seconds=-5)  # `inbound` moved the clock on; keep every one at once
        answered += len(await group.deliver(inbound))
    assert answered == 30
    assert notices(group.posts()) == 0
    # An agent writing to the bot in private is not limited either.
    li = Chat(limited_bot, outbox, clock, user="li")
    assert notices(await flood(li, 30)) == 0


async def test_zero_turns_the_limit_off(
    repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    for per_minute, burst in ((0, 20), (60, 0)):
        user = f"load-{per_minute}-{burst}"
        bot = ComplaintBot(repository, config(per_minute, burst), clock)
        chat = Chat(bot, outbox, clock, user=user)
        replies = await flood(chat, 40)
        assert sum("Add more if you like" in reply.text for reply in replies) == 40
        assert notices(replies) == 0


async def test_a_flood_of_letters_is_kept_and_told_once(
    repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock, records: Records
) -> None:
    bot = ComplaintBot(repository, config(burst=3, mail_auto_reply_limit=10), clock)
    mail = RecordingSender()
    dispatcher = Dispatcher(outbox, {"email": mail}, clock)
    for n in range(6):
        number = next(_ids)
        await bot.handle(
            Inbound(
                channel="email",
                transport_id=f"<flood-{number}@example.com>",
                conversation="flo@example.com",
                sender_id="flo@example.com",
                received_at=clock.now(),
                kind=InboundKind.TEXT,
                subject=f"投诉 {n}",
                text="我的账单有误，请核实。",
                style=ConversationStyle.LETTER,
            )
        )
    while await dispatcher.run_once():
        pass
    assert len(await records.cases()) == 3
    assert len([m for m in await records.messages("in") if m.channel == "email"]) == 6
    sent = mail.sent
    assert notices(sent, NOTICE_ZH) == 1  # in the letter's language, not the default (en)
    assert len(sent) == 4  # three receipts and the notice


# ----- the bucket itself ---------------------------------------------------------------

T0 = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


def test_a_full_bucket_lets_the_burst_through_then_one_a_second() -> None:
    limit, bucket = InboundLimit(60, 3), None
    verdicts = []
    for _ in range(5):
        admission = take(limit, bucket, T0)
        verdicts.append((admission.serve, admission.notify))
        bucket = admission.bucket
    assert verdicts == [(True, False)] * 3 + [(False, True), (False, False)]
    admission = take(limit, bucket, T0 + timedelta(seconds=1))
    assert (admission.serve, admission.notify) == (True, False)


def test_a_message_handled_out_of_order_refills_nothing_and_keeps_the_time() -> None:
    later = take(InboundLimit(60, 3), Bucket(0.5, T0 + timedelta(seconds=10)), T0)
    assert (later.serve, later.notify) == (False, True)
    assert later.bucket == Bucket(0.5, T0 + timedelta(seconds=10), noticed=True)


def test_a_stored_bucket_reads_back_and_a_broken_one_is_a_new_one() -> None:
    bucket = Bucket(2.5, T0, noticed=True)
    assert Bucket.from_json(bucket.to_json()) == bucket
    assert Bucket.from_json({"tokens": "x"}) is None
    assert Bucket.from_json(None) is None
