"""The pacer on its own: token buckets per channel and per conversation, and holds; the
budget in this process, which reserves a slot of the overall budget a moment away."""

from __future__ import annotations

import math

import pytest

from channels.telegram.pacing import telegram_pacing
from delivery.pacing import LocalBudget, Pacer
from delivery.sending import ChannelPacing, Rate
from tests.support.clock import FakeClock


def telegram_like() -> ChannelPacing:
    """One message a second to a person (three at once), two a minute to a group, ten
    a second overall (all ten at once)."""
    return ChannelPacing(
        overall=Rate(10, 1.0),
        per_conversation=lambda chat: (
            Rate(2, 60.0, burst=1) if chat.startswith("-") else Rate(1, 1.0, burst=3)
        ),
    )


def go(pacer: Pacer, clock: FakeClock, conversation: str) -> float:
    """Sends one message to `conversation` as soon as the pacer allows; returns when."""
    for _ in range(3):
        if (wait := pacer.wait("telegram", conversation)) == 0:
            return clock.monotonic()
        # As the dispatcher's sleep on the test's clock: rounded up to a microsecond.
        clock.advance(microseconds=math.ceil(wait * 1_000_000))
    raise AssertionError("waiting as long as the pacer said did not let the message go")


def sends(pacer: Pacer, clock: FakeClock, conversation: str, count: int) -> list[float]:
    """When `count` messages to `conversation` go (seconds from now)."""
    start = clock.monotonic()
    return [round(go(pacer, clock, conversation) - start, 6) for _ in range(count)]


def most_in_a_window(times: list[float], seconds: float) -> int:
    return max(sum(1 for t in times if start <= t < start + seconds) for start in times)


def test_a_person_gets_a_burst_of_three_then_one_a_second() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_like()}, clock.monotonic)
    assert [pacer.wait("telegram", "1001") for _ in range(3)] == [0, 0, 0]
    assert pacer.wait("telegram", "1001") == pytest.approx(1.0)
    assert pacer.wait("telegram", "1002") == 0  # someone else is not held up
    assert sends(pacer, clock, "1001", 3) == [1.0, 2.0, 3.0]


def test_a_quiet_person_gets_the_burst_back_a_token_a_second() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_like()}, clock.monotonic)
    assert sends(pacer, clock, "1001", 3) == [0, 0, 0]
    clock.advance(seconds=2)  # two tokens back, not three
    assert sends(pacer, clock, "1001", 3) == [0, 0, 1.0]
    clock.advance(seconds=30)  # full again: a long rest saves no more than the burst
    assert sends(pacer, clock, "1001", 4) == [0, 0, 0, 1.0]


def test_a_reserve_holds_back_the_end_of_a_burst_not_the_rate() -> None:
    clock = FakeClock()
    reserved = ChannelPacing(None, lambda _chat: Rate(1, 1.0, burst=3, reserve=0.25))
    pacer = Pacer({"telegram": reserved}, clock.monotonic)
    assert sends(pacer, clock, "1001", 6) == [0, 0, 0.25, 1.25, 2.25, 3.25]
    clock.advance(seconds=30)
    assert sends(pacer, clock, "1001", 4) == [0, 0, 0.25, 1.25]
    with pytest.raises(ValueError, match="reserve"):
        Rate(1, 1.0, burst=3, reserve=-1)


def test_a_group_gets_its_rate_spread_evenly() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_like()}, clock.monotonic)
    assert pacer.wait("telegram", "-500") == 0
    assert pacer.wait("telegram", "-500") == pytest.approx(30.0)  # two a minute: one per 30 s
    clock.advance(seconds=20)
    assert pacer.wait("telegram", "-500") == pytest.approx(10.0)
    clock.advance(seconds=10)
    assert pacer.wait("telegram", "-500") == 0


def test_the_overall_budget_is_shared_by_every_conversation() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_like()}, clock.monotonic)
    assert [pacer.wait("telegram", str(chat)) for chat in range(10)] == [0] * 10
    assert pacer.wait("telegram", "10") == pytest.approx(0.1)  # a token every 1/10 s
    assert pacer.chat_wait("telegram", "10") == 0  # its own bucket is full


def test_telegrams_shape_never_puts_more_than_its_limit_in_a_window() -> None:
    """However the sends fall, no second holds more than 30 and no minute more than 20
    to one group: overall a bucket of 5 within a window of 30 a second; a group's
    minute is a sliding window (its 20 may go at once, the 21st a minute later)."""
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_pacing()}, clock.monotonic)
    times = [go(pacer, clock, str(1000 + n)) for n in range(90)]
    assert most_in_a_window(times, 1.0) == 30
    group = sends(pacer, clock, "-100777", 25)
    assert most_in_a_window(group, 60.0) == 20
    assert group[19] - group[0] < 1  # spaced only by the overall 30 a second
    assert group[20] - group[0] == pytest.approx(61.0)  # a second's margin


def test_telegram_private_chats_take_the_configured_burst() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_pacing(chat_burst=5)}, clock.monotonic)
    times = sends(pacer, clock, "1001", 7)
    # Five at once (the overall budget lets five go at once too), then one a second.
    assert times[:5] == pytest.approx([0.0] * 5, abs=1e-5)
    assert times[5:] == pytest.approx([1.0, 2.0], abs=1e-5)


def test_a_hold_from_the_transport_delays_only_that_conversation() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_like()}, clock.monotonic)
    pacer.hold("telegram", "1001", 30)
    assert pacer.wait("telegram", "1001") == 30
    assert pacer.chat_wait("telegram", "1001") == 30
    assert pacer.wait("telegram", "1002") == 0
    clock.advance(seconds=30)
    assert pacer.wait("telegram", "1001") == 0


def test_a_send_by_another_worker_is_paid_for() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_like()}, clock.monotonic)
    for _ in range(3):
        pacer.spend("telegram", "1001")
    assert pacer.chat_wait("telegram", "1001") == pytest.approx(1.0)
    pacer.spend("telegram", "1001", at=clock.monotonic() + 0.5)  # even below empty
    assert pacer.chat_wait("telegram", "1001") == pytest.approx(2.0)


def test_idle_conversations_leave_no_state_behind() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_pacing(per_second=1e9)}, clock.monotonic)
    for chat in range(5000):
        assert pacer.wait("telegram", str(chat)) == 0
        pacer.hold("telegram", str(chat), 1)
        clock.advance(seconds=1)  # each one's bucket is full again a second later
    assert len(pacer._chats) + len(pacer._held) <= 1024
    assert (pacer.snapshot()["telegram"].conversations, pacer.snapshot()["telegram"].held) == (0, 0)
    assert pacer.wait("telegram", "5000") == 0
    pacer.hold("telegram", "5000", 1)
    load = pacer.snapshot()["telegram"]
    assert (load.conversations, load.held) == (1, 1)  # still refilling, still held


def test_a_channel_without_pacing_never_waits() -> None:
    pacer = Pacer({}, FakeClock().monotonic)
    assert [pacer.wait("console", "console") for _ in range(100)] == [0] * 100
    assert pacer.snapshot() == {}


async def test_a_slot_a_moment_away_is_reserved_in_turn() -> None:
    clock = FakeClock()
    budget = LocalBudget({"telegram": telegram_like()}, clock.monotonic)
    first = [await budget.take("telegram", str(chat), False, within=0.25) for chat in range(10)]
    assert all(wait.taken and wait.after == 0 for wait in first)  # the overall burst of ten
    # Then each takes the next tenth of a second, as far as it will wait for it.
    later = [await budget.take("telegram", str(chat), False, within=0.25) for chat in (10, 11)]
    assert [(w.taken, round(w.after, 6)) for w in later] == [(True, 0.1), (True, 0.2)]
    too_far = await budget.take("telegram", "12", False, within=0.25)
    assert not too_far.taken and too_far.overall == pytest.approx(0.3)
    # The reserved slot counts against the chat's own budget: once it has come, the chat
    # has two of its three at once left.
    clock.advance(seconds=0.3)
    assert [(await budget.take("telegram", "11", False, within=1)).taken for _ in range(3)] == [
        True,
        True,
        False,
    ]
    # Without `within` nothing is reserved: the overall wait is said.
    assert not (await budget.take("telegram", "13", False)).taken
