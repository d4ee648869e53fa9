"""An agent's answer on a web chat the visitor's page did not show is mailed to the
address they gave, once, two minutes later, with a link that opens the conversation
again; an answer the page showed, or one on a chat that cannot tell (Telegram), is
not. On SQLite and PostgreSQL (what the page showed is on the record)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.away import AwayMail
from bot.desk import DeskConfig
from bot.router import BotConfig, ComplaintBot
from channels.web.tokens import ConversationTokens, conversation_named
from delivery.dispatcher import Dispatcher
from storage.models import Message, TimelineEvent
from storage.outbox import SqlOutbox
from storage.repository import SqlRepository
from storage.web_chat import SqlVisitors
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.support.chat import AgentsGroup, Chat, RecordingSender
from tests.support.clock import FakeClock

DESK = DeskConfig(channel="test", conversation="agents", agent_ids=frozenset({"li"}))
KEY = b"k" * 32
LINK = re.compile(r"Continue the conversation: https://help\.example\.com/chat/#resume=(\S+)")
ANSWER = "We found a double charge and refunded it."


class Site:
    """The bot with the web chat's rule on, a complainant on `channel`, and the mails
    sent on the mail channel."""

    def __init__(
        self,
        engine: AsyncEngine,
        repository: SqlRepository,
        outbox: SqlOutbox,
        clock: FakeClock,
        channel: str,
    ) -> None:
        self.engine, self.clock = engine, clock
        self.tokens = ConversationTokens(KEY, clock)

        def link(conversation: str) -> str:
            token = self.tokens.resume_token(conversation, clock.now())
            return f"https://help.example.com/chat/#resume={token}"

        config = BotConfig(
            desk=DESK,
            default_locale="en",
            mail_channel="email",
            away_mail=AwayMail(channels=frozenset({"web"}), link=link),
        )
        bot = ComplaintBot(repository, config, clock)
        self.conversation = conversation_named(self.tokens.new_token())
        self.person = Chat(bot, outbox, clock, user=self.conversation, channel=channel)
        self.mails = RecordingSender()
        self.person.dispatcher = Dispatcher(
            outbox,
            {"test": self.person.sender, channel: self.person.sender, "email": self.mails},
            clock,
        )
        self.group = AgentsGroup(self.person)

    async def file_and_answer(self) -> str:
        """A case filed (with an address) and an agent's answer delivered; its number."""
        await SqlVisitors(self.engine).begin(self.conversation, "192.0.2.1", self.clock.now())
        receipt = await play(self.person, ENGLISH_INTAKE)
        case_no = re.search(r"TS-\d{8}-\d{4}", receipt).group(0)  # type: ignore[union-attr]
        await self.group.say("li", ANSWER, thread=self.group.thread_of(case_no))
        assert any(ANSWER in o.text for o in self.person.mine())  # delivered to the chat
        return case_no

    async def sweep_after(self, **delta: Any) -> None:
        self.clock.advance(**delta)
        await self.person.bot.sweep()
        await self.person.deliver_pending()

    async def events(self, kind: str) -> list[dict[str, Any]]:
        async with AsyncSession(self.engine) as session:
            rows = await session.scalars(select(TimelineEvent).where(TimelineEvent.kind == kind))
            return [row.payload for row in rows.all()]

    async def answer_id(self) -> int:
        async with AsyncSession(self.engine) as session:
            found = await session.scalar(
                select(Message.id).where(Message.kind == "agent_reply")  # type: ignore[arg-type]
            )
            assert found is not None
            return int(found)


@pytest.fixture
def site_of(engine: AsyncEngine, repository: SqlRepository, outbox: SqlOutbox, clock: FakeClock):
    def make(channel: str) -> Site:
        return Site(engine, repository, outbox, clock, channel)

    return make


async def test_an_answer_the_page_did_not_show_is_mailed_once_with_a_link_back(site_of) -> None:
    site = site_of("web")
    case_no = await site.file_and_answer()

    await site.sweep_after(minutes=1)
    assert site.mails.sent == []  # not yet: the page may still show it

    await site.sweep_after(minutes=1, seconds=1)
    (mail,) = site.mails.sent
    assert mail.conversation == "alice@example.com"
    assert mail.case_no == case_no
    assert mail.text.startswith(f"You have a new reply about case {case_no}:")
    assert ANSWER in mail.text
    link = LINK.search(mail.text)
    assert link is not None, mail.text
    # The link's token opens that conversation, and nothing else does it.
    assert site.tokens.conversation_of(link.group(1)) == site.conversation
    assert await site.events("answer_mailed") == [{"count": 1}]

    # Later sweeps send nothing more; a second answer is mailed alone.
    await site.sweep_after(minutes=10)
    assert len(site.mails.sent) == 1
    await site.group.say(
        "li", "One more thing: the refund takes 3 days.", thread=site.group.thread_of(case_no)
    )
    await site.sweep_after(minutes=2, seconds=1)
    second = site.mails.sent[1]
    assert "3 days" in second.text and ANSWER not in second.text
    # Threaded as the case's mail: its subject, under the first mail (no chat's ids).
    assert mail.subject == second.subject == "Example Telecom, ICP 京B2-20260001"
    assert (mail.references, second.references) == ((), ("1",))


async def test_an_answer_the_page_showed_is_not_mailed(site_of) -> None:
    site = site_of("web")
    await site.file_and_answer()
    site.clock.advance(seconds=30)
    await SqlVisitors(site.engine).seen(site.conversation, site.clock.now(), await site.answer_id())

    await site.sweep_after(minutes=2)
    assert site.mails.sent == []
    assert await site.events("answer_mailed") == []


async def test_a_telegram_case_is_never_mailed_its_answers(site_of) -> None:
    site = site_of("telegram")
    await site.file_and_answer()

    await site.sweep_after(minutes=2, seconds=1)
    await site.sweep_after(hours=1)
    assert site.mails.sent == []
    assert await site.events("answer_mailed") == []
