"""The web chat over HTTP, without a browser: a complaint filed through the chat's API
with a photo, the conversation resumed by its token, the event stream, and bad input,
floods and a lost database each getting one clear answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from channels.web.chat import STREAM_SECONDS, stream_seconds
from channels.web.keys import site_key
from channels.web.tokens import ConversationTokens, conversation_named
from complaintbot.settings import Settings
from storage.database import create_engine
from storage.models import Case, Evidence, Message, OutboxItem, RawUpdate, TimelineEvent
from tests.support.clock import FakeClock, RunningWallClock
from tests.support.serving import ready, serving
from tests.support.web_chat import PNG, WebVisitor, file_web_complaint


@pytest.fixture
async def site(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """`complaintbot serve` with the web chat only."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=database_url,
        DATA_DIR=tmp_path / "data",
        PORT=0,
        WEB_OPEN_DRAFTS_PER_IP=3,
    )
    async with serving(settings, RunningWallClock(datetime.now(UTC))) as client:
        await ready(client)
        yield client


async def _count(database_url: str, model: type, *where: object) -> int:
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            return int(
                await session.scalar(select(func.count()).select_from(model).where(*where)) or 0
            )
    finally:
        await engine.dispose()


async def test_a_complaint_with_a_photo_is_filed_through_the_chat_and_resumed_by_its_token(
    site: httpx.AsyncClient, database_url: str
) -> None:
    async with WebVisitor(site) as visitor:
        page = await site.get("/chat/")
        assert page.status_code == 200
        assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
        assert "隐私声明" in page.text
        assert len(page.content) < 100_000
        await visitor.begin()
        case_no = await file_web_complaint(visitor, "宽带断网三天，客服一直不处理")

        # The case is on the record as the web's, with the photo as evidence.
        assert await _count(database_url, Case, Case.case_no == case_no, Case.channel == "web") == 1
        assert await _count(database_url, Evidence, Evidence.mime == "image/png") == 1

        # A reload: the same token brings the whole conversation back, in order.
        resumed = await visitor.session()
        texts = [e["text"] for e in resumed["entries"]]
        assert texts.index("宽带断网三天，客服一直不处理") < texts.index("退还多扣的费用")
        assert any(case_no in t for t in texts)
        assert any(
            e.get("file") == {"name": "screenshot.png", "size": len(PNG)}
            for e in resumed["entries"]
        )

    # Another visitor (another browser) sees nothing of it; a made-up token opens nothing.
    site.cookies.clear()
    async with WebVisitor(site) as stranger:
        await stranger.begin()
        assert (await stranger.session())["entries"] == []
        forged = await site.post("/chat/api/session", json={}, headers={"X-Chat-Token": "x" * 43})
        assert forged.json()["entries"] == []


async def test_the_answer_is_on_the_record_when_the_message_is_acknowledged(
    site: httpx.AsyncClient, database_url: str
) -> None:
    """The web chat's answers are delivered by being stored, in the transaction that
    takes the visitor's message: nothing waits for a dispatcher."""
    async with WebVisitor(site, lang="en") as visitor:
        await visitor.begin()
        await visitor.say("/start")
        # No stream, no waiting: the conversation read right after the 200 has it.
        entries = (await visitor.session())["entries"]
        assert [e["dir"] for e in entries] == ["in", "out"]
        assert "describe" in entries[1]["text"]
    async with WebVisitor(site) as visitor:
        await visitor.begin()
        case_no = await file_web_complaint(visitor, "宽带断网三天，客服一直不处理")
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            case = (await session.scalars(select(Case).where(Case.case_no == case_no))).one()
            assert case.receipt_sent_at is not None
            kinds = (
                await session.scalars(
                    select(TimelineEvent.kind).where(TimelineEvent.case_id == case.id)
                )
            ).all()
            assert "receipt_sent" in kinds
            # Sent the moment they were written, none left for a dispatcher.
            written = (
                await session.exec(
                    select(OutboxItem.status, OutboxItem.created_at, OutboxItem.sent_at).where(
                        OutboxItem.channel == "web"
                    )
                )
            ).all()
            assert len(written) > 10
            assert all(status == "sent" and sent == at for status, at, sent in written)
    finally:
        await engine.dispose()


async def test_the_answer_comes_back_in_the_response_to_the_message(
    site: httpx.AsyncClient,
) -> None:
    """As the page sends them: with `after`, the last message it showed, the response
    carries what came after it, the bot's answer included; no stream is open."""
    async with WebVisitor(site, lang="en") as visitor:
        await visitor.begin()
        first = await visitor.post(kind="text", text="/start", after=0)
        assert first.status_code == 200, first.text
        entries = first.json()["entries"]
        assert [e["dir"] for e in entries] == ["in", "out"]
        assert "describe" in entries[1]["text"]

        shown = entries[-1]["id"]
        second = await visitor.post(kind="text", text="No internet for three days", after=shown)
        later = second.json()["entries"]
        assert all(e["id"] > shown for e in later)
        assert later[0]["dir"] == "in" and later[0]["text"] == "No internet for three days"
        assert [e["dir"] for e in later[1:]] == ["out"]

        shown = later[-1]["id"]
        upload = await site.post(
            "/chat/api/upload",
            data={"id": "f-after", "lang": "en", "consent": "v1", "after": str(shown)},
            files={"file": ("screenshot.png", PNG, "image/png")},
            headers=visitor.headers(),
        )
        assert upload.status_code == 200, upload.text
        answer = upload.json()["entries"]
        assert answer[0]["file"] == {"name": "screenshot.png", "size": len(PNG)}
        assert any(e["dir"] == "out" for e in answer[1:])

        # Without `after` (a page from before), the answer comes by the stream only.
        plain = await visitor.post(kind="text", text="It is still down", after=None)
        assert plain.json() == {"ok": True, "entries": []}


async def test_a_message_sent_twice_is_stored_once_and_bad_input_gets_one_sentence(
    site: httpx.AsyncClient, database_url: str
) -> None:
    async with WebVisitor(site, lang="en") as visitor:
        await visitor.begin()
        await visitor.listen()
        first = await visitor.post(id="same-id", kind="text", text="/start", after=0)
        again = await visitor.post(id="same-id", kind="text", text="/start", after=0)
        # A retry (its first response lost on the way) gets the same answer.
        assert first.json() == again.json()
        assert [e["dir"] for e in again.json()["entries"]] == ["in", "out"]
        await visitor.expect("describe")
        assert (
            await _count(database_url, Message, Message.channel == "web", Message.direction == "in")
            == 1
        )
        assert len(visitor.texts()) == 1  # answered once

        odd = await visitor.post(kind="dance")
        assert odd.status_code == 400
        assert odd.json()["error"] == "This message could not be read; please reload the page."
        # Kept raw all the same, never read.
        assert (
            await _count(
                database_url,
                RawUpdate,
                RawUpdate.channel == "web",
                RawUpdate.state == "undecodable",
            )
            == 1
        )
        site.cookies.clear()  # the page's cookie would name the conversation too
        nobody = await site.post("/chat/api/send", json={"id": "x1", "kind": "text", "text": "hi"})
        assert nobody.status_code == 401
        program = await visitor.upload(b"MZ\x90\x00" + bytes(100), "setup.exe", "image/png")
        assert program.status_code == 415
        assert "PDF" in program.json()["error"]
        huge = await visitor.upload(b"\x89PNG\r\n\x1a\n" + bytes(21 * 1024 * 1024), "big.png")
        assert huge.status_code in (413,)
        assert await _count(database_url, Evidence) == 0


async def test_a_flood_and_too_many_unfinished_conversations_from_one_address_are_refused(
    site: httpx.AsyncClient,
) -> None:
    async with WebVisitor(site, lang="en") as visitor:
        await visitor.begin()
        answers = [await visitor.post(kind="text", text=f"line {n}") for n in range(31)]
        assert [a.status_code for a in answers[:30]] == [200] * 30
        assert answers[30].status_code == 429
        assert (
            answers[30].json()["error"]
            == "You are sending messages very fast; please wait a moment."
        )
    # WEB_OPEN_DRAFTS_PER_IP=3: this visitor's and two more; the fourth is refused.
    for _ in range(2):
        site.cookies.clear()
        await WebVisitor(site).begin()
    site.cookies.clear()
    refused = await site.post("/chat/api/session", json={"begin": True})
    assert refused.status_code == 429
    assert "未完成" in refused.json()["error"]


async def test_the_privacy_agreement_goes_on_the_case_timeline(
    site: httpx.AsyncClient, database_url: str
) -> None:
    async with WebVisitor(site, consent="2026-11") as visitor:
        await visitor.begin()
        case_no = await file_web_complaint(visitor, "话费被多扣了 30 元", photo=False)
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            kinds = (
                await session.execute(
                    select(TimelineEvent.kind, TimelineEvent.payload)
                    .join(Case, Case.id == TimelineEvent.case_id)  # type: ignore[arg-type]
                    .where(Case.case_no == case_no)
                )
            ).all()
    finally:
        await engine.dispose()
    notices = [payload for kind, payload in kinds if kind == "privacy_notice"]
    assert notices and notices[0]["version"] == "2026-11" and notices[0]["agreed"] is True


async def test_a_mailed_resume_link_opens_its_conversation_and_a_forged_or_old_one_nothing(
    site: httpx.AsyncClient, tmp_path: Path
) -> None:
    async with WebVisitor(site, lang="en") as visitor:
        body = await visitor.begin()
        await visitor.listen()
        await visitor.say("/start")
        await visitor.expect("describe")
        assert visitor.token is not None and body["token"] == visitor.token
    # The link mailed to the visitor, signed with the site's key (made at the start).
    key = site_key(None, tmp_path / "data")
    now = datetime.now(UTC)
    tokens = ConversationTokens(key, FakeClock(now))
    conversation = conversation_named(visitor.token)
    resume = tokens.resume_token(conversation, now)

    site.cookies.clear()  # another browser: the one the mail is read in
    opened = await site.post("/chat/api/session", json={}, headers={"X-Chat-Token": resume})
    assert [e["text"] for e in opened.json()["entries"]][:1] == ["/start"]
    # The page keeps a fresh resume token (valid from now), which opens it too.
    fresh = opened.json()["token"]
    assert fresh.startswith("r1.") and tokens.conversation_of(fresh) == conversation

    forged = [
        resume[:-1] + ("A" if resume[-1] != "A" else "B"),  # another signature
        ConversationTokens(b"another key", FakeClock(now)).resume_token(conversation, now),
        # Made 31 days ago: expired a day ago.
        tokens.resume_token(conversation, now - timedelta(days=31)),
    ]
    for token in forged:
        site.cookies.clear()
        refused = await site.post("/chat/api/session", json={}, headers={"X-Chat-Token": token})
        assert refused.json() == {"ok": True, "token": None, "entries": [], "after": 0}
        send = await site.post(
            "/chat/api/send",
            json={"id": "x1", "kind": "text", "text": "hi"},
            headers={"X-Chat-Token": token},
        )
        assert send.status_code == 401


def test_streams_last_about_five_minutes_each_its_own() -> None:
    # Pages reconnected together (after a restart) drift apart instead of reopening
    # their streams together every five minutes.
    lengths = [stream_seconds() for _ in range(200)]
    assert all(0.8 * STREAM_SECONDS <= length <= 1.2 * STREAM_SECONDS for length in lengths)
    assert max(lengths) - min(lengths) > 0.2 * STREAM_SECONDS
