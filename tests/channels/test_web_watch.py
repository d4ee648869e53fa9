"""An open event stream's listener: no wake is lost, whether it comes before the stream
waits, while it waits or after a quiet heartbeat; and what was taken is not news."""

from __future__ import annotations

import asyncio

from channels.web.watch import Listener

LONG = 30.0  # a wait that would fail the test by its timeout if the wake were lost


async def test_a_wake_before_the_wait_is_not_lost() -> None:
    listener = Listener()
    listener.wake()
    assert await asyncio.wait_for(listener.wait(LONG), 5) is True


async def test_a_wake_during_the_wait_ends_it_and_a_quiet_wait_says_so() -> None:
    listener = Listener()
    assert await listener.wait(0.01) is False  # a heartbeat with nothing new

    waiting = asyncio.create_task(listener.wait(LONG))
    await asyncio.sleep(0)
    assert not waiting.done()
    listener.pushed.append({"id": 1})
    listener.wake()
    assert await asyncio.wait_for(waiting, 5) is True
    assert listener.take() == [{"id": 1}]


async def test_what_was_taken_is_not_news_again() -> None:
    listener = Listener()
    listener.wake()
    listener.take()
    assert await listener.wait(0.01) is False
    # The quiet heartbeat left nothing behind that would end the next wait early.
    waiting = asyncio.create_task(listener.wait(LONG))
    await asyncio.sleep(0.02)
    assert not waiting.done()
    listener.wake()
    assert await asyncio.wait_for(waiting, 5) is True
