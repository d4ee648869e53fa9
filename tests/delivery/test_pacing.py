"""The pacer on its own: sliding windows per channel and per conversation, and holds."""

from __future__ import annotations

from delivery.pacing import Pacer
from delivery.sending import ChannelPacing, Rate
from tests.support.clock import FakeClock


def telegram_like() -> ChannelPacing:
    """One message a second to a person, two a minute to a group, ten a second overall."""
    return ChannelPacing(
        overall=Rate(10, 1.0),
        per_conversation=lambda chat: Rate(2, 60.0) if chat.startswith("-") else Rate(1, 1.0),
    )


def test_a_conversation_waits_for_its_own_window_and_others_do_not() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_like()}, clock.monotonic)
    assert pacer.wait("telegram", "1001") == 0  # taken
    assert pacer.wait("telegram", "1001") == 1.0  # a second per person
    assert pacer.wait("telegram", "1002") == 0  # someone else is not held up
    clock.advance(seconds=1)
    assert pacer.wait("telegram", "1001") == 0


def test_a_group_gets_its_minute_budget_then_waits_for_the_oldest_to_age() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_like()}, clock.monotonic)
    assert pacer.wait("telegram", "-500") == 0
    clock.advance(seconds=20)
    assert pacer.wait("telegram", "-500") == 0
    assert pacer.wait("telegram", "-500") == 40.0  # the first one leaves the window at 60 s


def test_the_overall_budget_is_shared_by_every_conversation() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_like()}, clock.monotonic)
    assert [pacer.wait("telegram", str(chat)) for chat in range(10)] == [0] * 10
    assert pacer.wait("telegram", "10") == 1.0
    assert pacer.chat_wait("telegram", "10") == 0  # its own window is free


def test_a_hold_from_the_transport_delays_only_that_conversation() -> None:
    clock = FakeClock()
    pacer = Pacer({"telegram": telegram_like()}, clock.monotonic)
    pacer.hold("telegram", "1001", 30)
    assert pacer.wait("telegram", "1001") == 30
    assert pacer.wait("telegram", "1002") == 0
    clock.advance(seconds=30)
    assert pacer.wait("telegram", "1001") == 0


def test_a_channel_without_pacing_never_waits() -> None:
    pacer = Pacer({}, FakeClock().monotonic)
    assert [pacer.wait("console", "console") for _ in range(100)] == [0] * 100
