"""The survey in the browser, over HTTP: a web-chat case's survey and its reminder carry a
signed link to a page with the 1–5 choices and a comment box; looking never rates,
posting rates through the bot's own survey logic; tampered and expired links are
refused; Telegram and mail surveys carry no link.

The bot is the one `complaintbot.app.open_core` wires from the settings (the link's
address and key as `serve` has them), on a clock the test moves; the pages are served
in process (`web.public.routes.public_routes`), with the key `serve`'s pages check links by.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from bot.agents import Operator
from bot.messages import Inbound, InboundKind, Outbound
from bot.router import ComplaintBot
from channels.email.inbound import mail_to_inbound
from channels.web.keys import site_key
from complaintbot.app import open_core, survey_links
from complaintbot.core import Core
from complaintbot.settings import Settings
from delivery.dispatcher import Dispatcher
from storage.models import OutboxItem
from tests.bot.test_service import ENGLISH_INTAKE, play
from tests.channels import mail_corpus
from tests.support.chat import Chat, RecordingSender, RecordReader, texts
from tests.support.clock import FakeClock
from tests.support.records import SqlRecords
from web.context import PublicSite, WebContext
from web.public.links import SURVEY, LinkSigner
from web.public.routes import public_routes

BASE = "https://complaints.example.com"
LINK = re.compile(re.escape(BASE) + r"/survey/[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+")
CASE_NO = re.compile(r"TS-\d{8}-\d{4}")
RESOLVE = "facts=confirmed nature=system_fault responsibility=company severity=minor Refunded."
# The survey 10 minutes after the resolution, its reminder an hour after it, and the
# end of waiting for an answer (when its link expires) three hours after it.
TIMINGS = {
    "CALENDAR": "24x7",  # surveys otherwise wait for working hours
    "SURVEY_DELAY_SECONDS": 600,
    "SURVEY_REMINDER_SECONDS": 3600,
    "AUTO_ARCHIVE_SECONDS": 3 * 3600,
}


@dataclass
class Site:
    """The bot as `serve` wires it, its outbox delivered to one recorder, and a client
    for the complainants' pages."""

    core: Core
    clock: FakeClock
    sender: RecordingSender
    dispatcher: Dispatcher
    client: httpx.AsyncClient
    records: SqlRecords
    record: RecordReader  # the web chat's messages, as its page reads them

    @property
    def bot(self) -> ComplaintBot:
        return self.core.bot

    async def deliver(self) -> None:
        while await self.dispatcher.run_once():
            pass
        await self.record.read()

    async def resolve(self, case_no: str) -> None:
        done, answers = await self.bot.operate(Operator("li"), "resolve", case_no, RESOLVE)
        assert done, answers

    async def survey_of(self, case_no: str) -> Outbound:
        """The survey message sent to the case's complainant, once its delay has passed."""
        await self.resolve(case_no)
        self.clock.advance(minutes=10, seconds=1)
        await self.bot.sweep()
        await self.deliver()
        return [o for o in self.sender.sent if o.case_no == case_no][-1]

    async def queued_survey_texts(self, case_no: str) -> list[str]:
        """The texts of the case's survey messages as the outbox holds them."""
        case_id = (await self.records.case(case_no)).id
        async with AsyncSession(self.core.engine) as session:
            rows = await session.scalars(
                select(OutboxItem)
                .where(OutboxItem.case_id == case_id, OutboxItem.kind == "survey")
                .order_by(OutboxItem.id)  # type: ignore[arg-type]
            )
            return [row.payload["text"] for row in rows]

    async def event_kinds(self, case_no: str) -> list[str]:
        return [e.kind for e in await self.records.events(case_no)]


class ChannelChat(Chat):
    """A person on a chat channel of the test's naming (the web chat, Telegram)."""

    def __init__(self, site: Site, channel: str, user: str) -> None:
        # The web chat's replies are on the record as sent; others go through the outbox.
        record = site.record if channel == site.record.channel else None
        super().__init__(
            site.bot, site.core.outbox, site.clock, site.sender, user=user, record=record
        )
        self.channel = channel
        self.dispatcher = site.dispatcher

    def inbound(self, kind: InboundKind, **fields: Any) -> Inbound:
        return replace(super().inbound(kind, **fields), channel=self.channel)


@pytest.fixture
async def site(database_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Site]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        DATABASE_URL=database_url,
        DATA_DIR=tmp_path / "data",
        DEFAULT_LOCALE="en",
        PUBLIC_BASE_URL=BASE,
        **TIMINGS,
    )
    async with open_core(settings, clock) as core:
        context = WebContext(
            engine=core.engine,
            bot=core.bot,
            clock=clock,
            zone=settings.zone,
            calendar=core.bot.config.followup.calendar,
            data_dir=settings.DATA_DIR,
            default_locale="en",
            satisfied_threshold=settings.SATISFIED_THRESHOLD,
            # The key `serve`'s worker signs with: WEB_SECRET_KEY, else DATA_DIR's.
            public=PublicSite(BASE, secret_key=site_key(None, settings.DATA_DIR)),
        )
        sender = RecordingSender()
        senders = {"web": sender, "telegram": sender, "email": sender}
        app = Starlette(routes=public_routes(context))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield Site(
                core,
                clock,
                sender,
                Dispatcher(core.outbox, senders, clock),
                client,
                SqlRecords(core.engine),
                RecordReader(core.engine, "web", sender),
            )


async def file_in_chat(site: Site, channel: str, user: str) -> tuple[ChannelChat, str]:
    chat = ChannelChat(site, channel, user)
    receipt = await play(chat, ENGLISH_INTAKE)
    found = CASE_NO.search(receipt)
    assert found is not None, receipt
    return chat, found.group(0)


def path_of(link: str) -> str:
    return link.removeprefix(BASE)


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


async def rate(site: Site, path: str, score: str, comment: str = "") -> httpx.Response:
    """Opens the page and sends the rating, as a browser would."""
    page = await site.client.get(path)
    form = {"csrf": csrf_of(page), "score": score, "comment": comment}
    return await site.client.post(path, data=form)


async def test_a_web_chat_survey_carries_a_link_whose_page_asks_and_rates_nothing(
    site: Site,
) -> None:
    chat, case_no = await file_in_chat(site, "web", "visitor-1")
    survey = await site.survey_of(case_no)
    assert f"How satisfied are you with how we handled your complaint {case_no}?" in survey.text
    (link,) = LINK.findall(survey.text)
    assert "on this page" in survey.text
    # The chat's rating buttons stay.
    assert [b.label for row in survey.buttons for b in row][-1] == "5 very satisfied"
    queued = await site.queued_survey_texts(case_no)
    assert queued == [survey.text]

    for _ in range(2):  # looking again changes nothing either
        page = await site.client.get(path_of(link))
        assert page.status_code == 200
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert f"How satisfied are you with how we handled your complaint {case_no}?" in (page.text)
        assert "<legend>" in page.text
        assert len(re.findall(r'<input type="radio" name="score" value="[1-5]"', page.text)) == 5
        assert "2 dissatisfied" in page.text and '<textarea id="comment"' in page.text
    chinese = await site.client.get(path_of(link), headers={"accept-language": "zh-CN,zh"})
    assert f"您对投诉 {case_no} 的处理是否满意？" in chinese.text and "提交评分" in chinese.text
    case = await site.records.case(case_no)
    assert case.status == "resolved"
    (row,) = await site.records.surveys()
    assert (row.score, row.answered_at) == (None, None)
    assert "survey_answered" not in await site.event_kinds(case_no)

    # The reminder carries a link to the same page.
    site.clock.advance(hours=1)
    await site.bot.sweep()
    await site.deliver()
    reminder = chat.mine()[-1]
    assert reminder.text.startswith(
        f"A reminder: how satisfied are you with how we handled {case_no}?"
    )
    (again,) = LINK.findall(reminder.text)
    assert (await site.client.get(path_of(again))).status_code == 200
    assert len(await site.queued_survey_texts(case_no)) == 2


async def test_a_rating_of_2_on_the_page_reopens_and_escalates_once(site: Site) -> None:
    chat, case_no = await file_in_chat(site, "web", "visitor-2")
    (link,) = LINK.findall((await site.survey_of(case_no)).text)

    thanks = await rate(site, path_of(link), "2", "Still charged every month.")
    assert thanks.status_code == 200
    assert (
        f"Your complaint {case_no} has been reopened and a supervisor will follow it up."
        in thanks.text
    )
    assert "You will hear from us in the chat." in thanks.text
    assert "Thank you, your comment is on file." in thanks.text

    case = await site.records.case(case_no)
    assert (case.status, case.reopened_count) == ("reopened", 1)
    assert case.escalated_at == site.clock.now()
    (answered,) = await site.records.events(case_no, "survey_answered")
    assert (answered.payload["score"], answered.payload["via"]) == (2, "survey_page")
    (comment,) = await site.records.events(case_no, "survey_comment")
    assert comment.payload["text"] == "Still charged every month."
    kinds = await site.event_kinds(case_no)
    story = {"survey_answered", "reopened", "escalated", "survey_comment"}
    after = [kind for kind in kinds[kinds.index("survey_sent") :] if kind in story]
    assert after == ["survey_answered", "reopened", "escalated", "survey_comment"]
    (row,) = await site.records.surveys()
    assert (row.score, row.outcome, row.comment) == (2, "unsatisfied", "Still charged every month.")
    # The chat is told too, as if the rating had been given there.
    await site.deliver()
    assert "has been reopened" in chat.mine()[-1].text

    # No second rating: not from the page, not from the chat's buttons.
    # (A second tab with the form still open, say.)
    again = {"csrf": site.client.cookies["cb_csrf"], "score": "5"}
    twice = await site.client.post(path_of(link), data=again)
    assert twice.status_code == 200 and "Thank you, already rated" in twice.text
    assert f"Your rating of {case_no} is already recorded." in twice.text
    assert "That button is no longer active." in texts(await chat.press("5 very satisfied"))
    looked = await site.client.get(path_of(link))
    assert "Thank you, already rated" in looked.text and 'name="score"' not in looked.text
    assert len(await site.records.events(case_no, "survey_answered")) == 1
    assert (await site.records.case(case_no)).status == "reopened"


async def test_a_satisfied_rating_on_the_page_archives_the_case(site: Site) -> None:
    _chat, case_no = await file_in_chat(site, "web", "visitor-3")
    (link,) = LINK.findall((await site.survey_of(case_no)).text)
    done = await rate(site, path_of(link), "5")
    assert "Thank you for your rating (5/5)." in done.text
    assert f"Your complaint {case_no} is now closed and archived." in done.text
    assert (await site.records.case(case_no)).status == "archived"


async def test_a_post_without_its_csrf_token_or_a_choice_rates_nothing(site: Site) -> None:
    _chat, case_no = await file_in_chat(site, "web", "visitor-4")
    path = path_of(LINK.findall((await site.survey_of(case_no)).text)[0])
    forged = await site.client.post(path, data={"csrf": "x" * 40, "score": "1"})
    assert forged.status_code == 403
    assert "The form had expired or did not come from this site" in forged.text
    unchosen = await rate(site, path, "")
    assert unchosen.status_code == 422 and "Choose a rating from 1 to 5." in unchosen.text
    assert (await site.records.case(case_no)).status == "resolved"
    assert "survey_answered" not in await site.event_kinds(case_no)


def tampered(link: str) -> list[str]:
    """The link with its signature changed, and with another case's number under the
    same signature, and signed with another key."""
    path = path_of(link)
    payload, signature = path.removeprefix("/survey/").split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    case_no, _bar, expires = decoded.partition("|")
    other = f"{case_no[:-1]}{'2' if case_no[-1] != '2' else '3'}|{expires}"
    other_payload = base64.urlsafe_b64encode(other.encode()).rstrip(b"=").decode()
    valid_until = datetime.fromtimestamp(int(expires), UTC)
    foreign = LinkSigner(b"another site's key", SURVEY).token(case_no, valid_until)
    return [
        f"/survey/{payload}.{flipped}",
        f"/survey/{other_payload}.{signature}",
        f"/survey/{foreign}",
        "/survey/not-a-token",
    ]


async def test_a_tampered_or_expired_link_is_refused_and_rates_nothing(site: Site) -> None:
    _chat, case_no = await file_in_chat(site, "web", "visitor-5")
    (link,) = LINK.findall((await site.survey_of(case_no)).text)
    for path in tampered(link):
        refused = await site.client.get(path)
        assert refused.status_code == 404, path
        assert "This link is not valid" in refused.text
        assert "Please answer in the chat instead" in refused.text
        posted = await site.client.post(path, data={"score": "1"})
        assert posted.status_code == 404

    # Valid as long as the survey waits for its answer: 3 hours after it was asked.
    site.clock.advance(hours=2, minutes=59)
    page = await site.client.get(path_of(link))
    assert page.status_code == 200
    site.clock.advance(minutes=2)
    expired = await site.client.get(path_of(link))
    assert expired.status_code == 410
    assert "This link has expired" in expired.text
    assert "Please answer in the chat instead" in expired.text
    late = await site.client.post(path_of(link), data={"csrf": csrf_of(page), "score": "1"})
    assert late.status_code == 410
    assert (await site.records.case(case_no)).status == "resolved"
    assert "survey_answered" not in await site.event_kinds(case_no)


async def test_telegram_and_mail_surveys_carry_no_link(site: Site) -> None:
    chat, telegram_case = await file_in_chat(site, "telegram", "42")
    survey = await site.survey_of(telegram_case)
    assert survey.conversation == chat.user
    assert "Reply with a digit from 1 to 5" in survey.text
    assert "/survey/" not in survey.text and BASE not in survey.text
    assert next(b.label for row in survey.buttons for b in row) == "1 very dissatisfied"

    site.clock.advance(seconds=30)
    await site.bot.handle(mail_to_inbound(mail_corpus.gbk_complaint(), site.clock.now()))
    await site.deliver()
    mail_case = next(o.case_no for o in site.sender.sent if o.channel == "email")
    assert mail_case is not None and mail_case != telegram_case
    mailed = await site.survey_of(mail_case)
    assert mailed.channel == "email"
    assert "请回复数字 1 至 5" in mailed.text
    assert "/survey/" not in mailed.text and BASE not in mailed.text
    assert ["/survey/" in text for text in await site.queued_survey_texts(mail_case)] == [False]


def test_the_links_are_made_only_where_the_complainants_pages_are_served(
    tmp_path: Path,
) -> None:
    on = Settings(_env_file=None, DATA_DIR=tmp_path, PUBLIC_BASE_URL=BASE)  # type: ignore[call-arg]
    links = survey_links(on)
    assert links is not None
    expires = datetime.fromtimestamp(2_000_000_000, UTC)
    link = links("TS-20261122-0001", expires)
    assert LINK.fullmatch(link)
    token = link.removeprefix(f"{BASE}/survey/")
    signed = LinkSigner(site_key(None, tmp_path), SURVEY).read(token)
    assert signed is not None and (signed.case_no, signed.expires_at) == (
        "TS-20261122-0001",
        expires,
    )
    off = Settings(_env_file=None, DATA_DIR=tmp_path, WEB_ENABLED=False)  # type: ignore[call-arg]
    assert survey_links(off) is None
