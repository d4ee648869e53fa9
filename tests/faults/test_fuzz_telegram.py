"""Property: hostile Telegram traffic never breaks the bot, is kept, and is answered validly.

Random sessions of updates (see `tests.faults.strategies.telegram_session`) go as the
Bot API's JSON through python-telegram-bot's decoding, the real adapter
(`channels.telegram.updates.UpdateReader`), the bot (`ComplaintBot.handle`, on the
memory backend for speed) and back out through the real dispatcher and
`TelegramSender` into an in-memory Bot API that checks each call as Telegram would
(`tests.faults.offline_bot`). For every session:

- no exception escapes the adapter or the bot;
- every update that is a message to the bot is stored, raw, under its update id;
- every call the bot makes is one Telegram accepts (text 1..4096 characters and not
  blank, no unchecked parse mode, at most 64 bytes of button data, ...);
- every reply queued was delivered (nothing given up on).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Protocol

from hypothesis import example, given
from hypothesis import strategies as st
from telegram import Bot, Update

from bot.messages import Inbound
from bot.ports import Repository
from bot.router import BotConfig, ComplaintBot
from bot.staff import DeskConfig
from channels.telegram import CHANNEL
from channels.telegram.sender import TelegramSender, split_text
from channels.telegram.updates import UpdateReader
from delivery.dispatcher import Dispatcher
from delivery.ports import OutboxStore
from tests.faults.fuzzing import cheap
from tests.faults.offline_bot import OfflineBotApi
from tests.faults.strategies import (
    AGENT_GROUP,
    AGENTS,
    BOT_ID,
    Action,
    any_text,
    hostile_text,
    telegram_session,
)
from tests.support.clock import FakeClock
from tests.support.memory import MemoryOutbox, MemoryRepository, MemoryStore

DESK = DeskConfig(channel=CHANNEL, conversation=str(AGENT_GROUP))


class Stored(Protocol):
    """The inbound messages stored under a transport id (their raw JSON each)."""

    async def __call__(self, transport_id: str) -> list[dict[str, Any]]: ...


class Session:
    """One bot with its own store, the real Telegram adapter and sender."""

    def __init__(
        self,
        locale: str = "en",
        backend: tuple[Repository, OutboxStore, Stored] | None = None,
        clock: FakeClock | None = None,
    ) -> None:
        self.clock = clock or FakeClock()
        self.store = MemoryStore()
        repository, outbox, self.stored = backend or (
            MemoryRepository(self.clock, self.store),
            MemoryOutbox(self.store),
            self._in_memory,
        )
        self.bot = ComplaintBot(
            repository, BotConfig(desk=DESK, default_locale=locale), self.clock
        )
        self.api = OfflineBotApi()
        self.telegram = Bot("123:fuzz", request=self.api, get_updates_request=self.api)
        self.reader = UpdateReader(self.telegram, self.clock)
        self.failures: list[str] = []
        self.dispatcher = Dispatcher(
            outbox,
            {CHANNEL: TelegramSender(self.telegram)},
            self.clock,
            on_failure=self._failed,
        )

    async def _failed(self, delivery: Any, error: str) -> None:
        self.failures.append(error)

    async def play(self, actions: list[Action]) -> None:
        sent: list[dict[str, Any]] = []
        for update_id, action in enumerate(actions, start=5000):
            self.clock.advance(seconds=7)
            if action.later is not None:
                self.clock.advance(hours=action.later)
                for _round in range(10):  # a timer is never due again at once
                    if not await self.bot.sweep():
                        break
                else:
                    raise AssertionError("timers keep coming due at the same time")
                while await self.dispatcher.run_once():
                    pass
                continue
            if action.again is not None:
                if sent:
                    await self._again(sent[-min(action.again, len(sent))])
                continue
            raw = self._raw(action, update_id)
            if raw is None:
                continue
            sent.append(raw)
            # What the Bot API sends is JSON: what python-telegram-bot decodes, and
            # what the raw-first polling stores before decoding.
            raw = json.loads(json.dumps(raw))
            try:
                inbound = await self.reader.to_inbound(Update.de_json(raw, self.telegram))
            except Exception:
                # The raw-first intake keeps such an update raw, marked undecodable
                # (channels/telegram/intake.py); a well-formed one must get through.
                assert action.broken, f"a well-formed update was not decoded: {raw}"
                continue
            if inbound is None:
                assert action.broken or not _addressed_to_bot(raw), f"dropped: {raw}"
                continue
            await self.bot.handle(inbound)
            await self._assert_stored(inbound)
            while await self.dispatcher.run_once():
                pass

    async def _again(self, raw: dict[str, Any]) -> None:
        """An update handled before, sent again: stored once, answered once."""
        calls = len(self.api.calls)
        try:
            inbound = await self.reader.to_inbound(Update.de_json(raw, self.telegram))
        except Exception:
            return  # refused the first time too
        if inbound is None:
            return
        assert not await self.bot.handle(inbound), "a redelivered update was handled again"
        while await self.dispatcher.run_once():
            pass
        # (Its file may be fetched again: the adapter reads before the bot knows.)
        said = [c for c in self.api.calls[calls:] if c.method.startswith(("send", "create"))]
        assert said == [], f"a redelivered update was answered again: {said}"
        assert len(await self.stored(inbound.transport_id)) == 1

    def _raw(self, action: Action, update_id: int) -> dict[str, Any] | None:
        if action.press is None:
            raw = json.dumps({"update_id": update_id, **action.update})
            if action.chat == AGENT_GROUP:
                raw = raw.replace("TS-CASE", self._latest_case())
                topic = f'"message_thread_id": {self._topic()}'
                raw = raw.replace('"message_thread_id": -1', topic)
            return dict(json.loads(raw))
        markups = self.api.sent_markups(action.chat)
        buttons = [b for row in (markups or [{}])[-1].get("inline_keyboard", []) for b in row]
        named = [b for b in buttons if b["text"] == action.label]
        if not buttons:
            return None
        button = named[0] if named else buttons[action.press % len(buttons)]
        group = action.chat == AGENT_GROUP
        presser = AGENTS[0] if group else action.chat
        return {
            "update_id": update_id,
            "callback_query": {
                "id": f"q{update_id}",
                "from": {"id": presser, "is_bot": False, "first_name": "Li"},
                "chat_instance": "ci",
                "data": button["callback_data"],
                "message": {
                    "message_id": 1,
                    "date": 1767225600,
                    "chat": {"id": action.chat, "type": "supergroup" if group else "private"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bot"},
                    "text": "?",
                },
            },
        }

    def _latest_case(self) -> str:
        cases = self.store.tables.cases
        # On a database, the first case of the day is the one there is.
        return cases[max(cases)].case_no if cases else "TS-20261122-0001"

    def _topic(self) -> int:
        return self.api.topics[-1] if self.api.topics else 1

    async def _in_memory(self, transport_id: str) -> list[dict[str, Any]]:
        return [
            m.raw
            for m in self.store.tables.messages
            if m.channel == CHANNEL and m.direction == "in" and m.transport_id == transport_id
        ]

    async def _assert_stored(self, inbound: Inbound) -> None:
        texts = [v for v in (getattr(inbound, f) for f in inbound.__slots__) if isinstance(v, str)]
        texts += [t for a in inbound.attachments for t in (a.name, a.mime)]
        # What no database stores as text: NUL (PostgreSQL) and lone surrogates.
        assert not [t for t in texts if "\x00" in t or _unencodable(t)]
        for attachment in inbound.attachments:
            name = attachment.name
            assert name and name not in (".", "..") and not _UNSAFE_NAME.search(name), name
        stored = await self.stored(inbound.transport_id)
        assert len(stored) == 1, f"update {inbound.transport_id} stored {len(stored)} times"
        assert stored[0] == json.loads(json.dumps(inbound.raw))
        assert stored[0].get("update_id") == int(inbound.transport_id)


# A path, a control character or a mark that turns the text around.
_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _unencodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _addressed_to_bot(raw: dict[str, Any]) -> bool:
    """Whether the update is something a person sent the bot (a message, an edit, a press)."""
    if "callback_query" in raw:
        return True
    message = raw.get("message") or raw.get("edited_message")
    if not message:
        return False
    sender = message.get("from")
    return bool(sender) and not sender.get("is_bot")


NUL_MESSAGE = {
    "message": {
        "message_id": 10,
        "date": 1767225610,
        "chat": {"id": 1001, "type": "private"},
        "from": {"id": 1001, "is_bot": False, "first_name": "Li\x00"},
        "text": "charged\x00 twice",
    }
}


@given(telegram_session())
@example([Action(NUL_MESSAGE, 1001)])
def test_hostile_updates_are_stored_and_answered_validly(actions: list[Action]) -> None:
    session = Session()
    asyncio.run(session.play(actions))
    assert session.api.problems == []
    assert session.failures == []
    # The bot answered each person who wrote: something reached every private chat
    # that sent a message (a press or an edit may rightly stay unanswered).
    for call in session.api.calls:
        if call.method == "sendMessage":
            assert call.parameters.get("parse_mode") is None


@given(telegram_session(max_actions=6))
def test_hostile_updates_in_chinese(actions: list[Action]) -> None:
    """The same in the bot's default language (other texts, other lengths)."""
    session = Session(locale="zh_CN")
    asyncio.run(session.play(actions))
    assert session.api.problems == []
    assert session.failures == []


_WHITE = st.sampled_from([" ", "\n", "\t", "\u3000", "\xa0", "\n\n"])


@cheap()
@given(
    st.lists(
        st.one_of(any_text(), st.builds(lambda w, n: w * n, _WHITE, st.integers(1, 300))),
        max_size=6,
    ).map("".join),
    st.integers(20, 200),
)
@example("a" + " " * 50 + "b" + " " * 60, 20)
def test_every_piece_of_a_long_text_can_be_sent(text: str, limit: int) -> None:
    """Long texts are cut into pieces Telegram takes (none over the limit, none blank),
    and nothing but white space is lost."""
    pieces = split_text(text, limit)
    assert all(len(piece) <= limit for piece in pieces)
    if text.strip():
        assert all(piece.strip() for piece in pieces), pieces
    assert "".join("".join(pieces).split()) == "".join(text.split())


@given(hostile_text(min_pieces=1))
def test_a_short_text_is_sent_as_it_is(text: str) -> None:
    assert split_text(text, 4096) == [text]
