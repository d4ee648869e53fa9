"""`TelegramIntake` on the Bot API stand-in with a store that can be switched off: nothing
is acknowledged before it is stored, a failed hand-over is retried once the store reads
again, a failed poll is retried, and each is said once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any, Literal

import pytest
from telegram import Bot, Update

from channels.telegram.intake import TelegramIntake
from channels.telegram.polling import UpdateFeed
from storage.raw_updates import Claimed
from tests.support.telegram_api import FakeBotApi
from tests.support.waiting import eventually

WAITING = "Telegram intake is waiting for the database"


class SwitchableStore:
    """`RawUpdates` in memory; while `down`, every call fails as a stopped database does."""

    def __init__(self) -> None:
        self.down = False
        self.rows: dict[str, tuple[dict[str, Any], str]] = {}
        self.calls: list[str] = []
        self._held = False
        self._stored = asyncio.Event()

    def _check(self, call: str) -> None:
        self.calls.append(call)
        if self.down:
            raise ConnectionRefusedError("the database is down")

    async def keep(
        self,
        channel: str,
        updates: Sequence[tuple[str, dict[str, Any]]],
        conversation: Callable[[dict[str, Any]], str | None] | None = None,
    ) -> list[str]:
        self._check("keep")
        for key, payload in updates:
            self.rows.setdefault(key, (payload, "stored"))
        self._stored.set()
        return [key for key, _ in updates if self.rows[key][1] == "stored"]

    @contextlib.asynccontextmanager
    async def claim(self, channel: str) -> AsyncIterator[Claimed | None]:
        """Every stored update as one conversation, held by one handler at a time."""
        self._check("claim")
        if self._held:
            yield None
            return
        waiting = [
            (key, payload) for key, (payload, state) in self.rows.items() if state == "stored"
        ]
        self._held = True
        try:
            yield Claimed("all", waiting) if waiting else None
        finally:
            self._held = False

    def wake(self, count: int = 1) -> None:
        self._stored.set()

    async def stored(self, within: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stored.wait(), within)
        self._stored.clear()

    @contextlib.contextmanager
    def handing(self, channel: str, key: str) -> Iterator[Handed]:
        yield Handed()  # the bot here records nothing: the intake marks

    async def mark(self, channel: str, key: str, state: Literal["handled", "undecodable"]) -> None:
        self._check("mark")
        self.rows[key] = (self.rows[key][0], state)


class Handed:
    marked = False


class Intake:
    def __init__(self, api: FakeBotApi, store: SwitchableStore) -> None:
        self.handled: list[int] = []
        self.failing = 0  # hand-overs still to fail
        self.down_with_it = False  # the database goes away as a hand-over fails
        self.store = store
        bot = Bot(api.token, base_url=api.base_url)
        self.intake = TelegramIntake(
            UpdateFeed(f"{api.base_url}{api.token}", poll_timeout=1), store, bot, self.prepare
        )

    async def prepare(self, update: Update) -> Callable[[], Awaitable[object]]:
        async def handle() -> None:
            if self.failing:
                self.failing -= 1
                self.store.down = self.store.down or self.down_with_it
                raise ConnectionRefusedError("the bot could not commit")
            self.handled.append(update.update_id)

        return handle

    async def __aenter__(self) -> Intake:
        self.task = asyncio.create_task(self.intake.run())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.intake.stop()
        await asyncio.wait_for(self.task, 10)
        await self.intake.feed.close()


def _said(caplog: pytest.LogCaptureFixture, fragment: str) -> list[str]:
    return [r.levelname for r in caplog.records if fragment in r.getMessage()]


async def test_nothing_is_acknowledged_while_the_store_is_down(
    api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = SwitchableStore()
    people = [api.user(7100 + n, f"P{n}", "en") for n in range(3)]
    async with Intake(api, store) as intake:
        await api.wait_until(lambda: bool(api.calls_of("getUpdates")))
        store.down = True
        sent = [(await person.send_text("hello"))["update_id"] for person in people]
        await eventually(lambda: _count(store.calls, "keep", 3))
        assert api.acknowledged == [] and intake.handled == []
        assert intake.intake.waiting_for_store
        store.down = False
        await eventually(lambda: _equal(intake.handled, sent))
        await api.wait_until(lambda: bool(api.acknowledged))
    # sent 3, stored 3, handled 3 (in order), duplicated 0; Telegram told only after.
    assert {key: state for key, (_, state) in store.rows.items()} == {
        str(i): "handled" for i in sent
    }
    assert api.acknowledged[0][0] == sent[-1] + 1
    assert _said(caplog, WAITING) == ["WARNING"]
    assert _said(caplog, "the database is back") == ["INFO"]


async def test_a_hand_over_failed_by_a_database_outage_is_retried_when_it_is_back(
    api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    store = SwitchableStore()
    person = api.user(7200, "Q", "en")
    async with Intake(api, store) as intake:
        intake.failing, intake.down_with_it = 1, True
        update_id = (await person.send_text("hello"))["update_id"]
        await eventually(lambda: _count(store.calls, "mark", 3))  # writes refused meanwhile
        assert intake.handled == []
        store.down = False
        await eventually(lambda: _equal(store.rows[str(update_id)][1], "handled"))
    assert intake.handled == [update_id] and intake.intake.failed == 0
    assert _said(caplog, WAITING) == ["WARNING"]


async def test_a_failed_poll_is_said_once_and_polling_goes_on(
    api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = SwitchableStore()
    person = api.user(7300, "R", "en")
    api.fail_next("getUpdates", 502, "Bad Gateway")
    api.fail_next("getUpdates", 502, "Bad Gateway")
    async with Intake(api, store) as intake:
        update_id = (await person.send_text("hello"))["update_id"]
        await eventually(lambda: _equal(intake.handled, [update_id]))
    assert _said(caplog, "cannot poll Telegram") == ["WARNING"]
    assert _said(caplog, "polling Telegram again") == ["INFO"]


async def _count(calls: list[str], name: str, at_least: int) -> bool:
    return calls.count(name) >= at_least


async def _equal(value: object, expected: object) -> bool:
    return value == expected


async def test_an_undecodable_update_is_counted_and_the_next_one_handled(
    api: FakeBotApi,
) -> None:
    store = SwitchableStore()
    person = api.user(7400, "S", "en")
    async with Intake(api, store) as intake:
        poison = await api.push({"poll": {"id": "p-1"}})
        update_id = (await person.send_text("hello"))["update_id"]
        await eventually(lambda: _equal(intake.handled, [update_id]))
        assert intake.intake.undecodable == 1
    assert store.rows[str(poison["update_id"])] == (
        {"poll": {"id": "p-1"}, "update_id": poison["update_id"]},
        "undecodable",
    )


async def test_an_update_the_bot_fails_on_while_the_store_works_is_kept_and_skipped(
    api: FakeBotApi, caplog: pytest.LogCaptureFixture
) -> None:
    store = SwitchableStore()
    person = api.user(7500, "T", "en")
    async with Intake(api, store) as intake:
        intake.failing = 3  # as a bug in the bot would, each time
        poison = (await person.send_text("hello"))["update_id"]
        update_id = (await person.send_text("next"))["update_id"]
        await eventually(lambda: _equal(intake.handled, [update_id]))
        assert intake.intake.failed == 1
    assert store.rows[str(poison)][1] == "failed"
    assert store.rows[str(update_id)][1] == "handled"
    assert _said(caplog, f"update {poison} could not be handled") == ["ERROR"]
    assert _said(caplog, WAITING) == []  # the database was never away
