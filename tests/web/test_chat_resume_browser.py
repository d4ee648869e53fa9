"""A link mailed to a web chat visitor (`/chat/#resume=<token>`) opened in another
browser: the page shows that conversation, keeps the token, and drops it from the
address; an altered link begins a conversation of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from channels.web.keys import site_key
from channels.web.tokens import ConversationTokens, conversation_named
from complaintbot.settings import Settings
from tests.support.clock import FakeClock, RunningWallClock
from tests.support.serving import ready, serving
from tests.support.web_chat import WebVisitor


@pytest.fixture
async def site(database_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """`complaintbot serve` with the web chat only."""
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        DATABASE_URL=database_url,
        DATA_DIR=tmp_path / "data",
        PORT=0,
    )
    async with serving(settings, RunningWallClock(datetime.now(UTC))) as client:
        await ready(client)
        yield client


async def test_a_resume_link_opens_its_conversation_in_another_browser(
    site: httpx.AsyncClient, browser: Browser, tmp_path: Path
) -> None:
    async with WebVisitor(site) as visitor:
        await visitor.begin()
        await visitor.listen()
        await visitor.say("宽带断网三天")
        await visitor.expect("请")
    assert visitor.token is not None
    now = datetime.now(UTC)
    tokens = ConversationTokens(site_key(None, tmp_path / "data"), FakeClock(now))
    resume = tokens.resume_token(conversation_named(visitor.token), now)

    context = await browser.new_context(base_url=str(site.base_url), locale="zh-CN")
    page = await context.new_page()
    await page.goto(f"/chat/#resume={resume}")
    await page.get_by_role("button", name="我已阅读并同意，开始").click()
    await expect(page.locator("#log")).to_contain_text("宽带断网三天")
    assert page.url.endswith("/chat/")  # the token is not left in the address
    kept = await page.evaluate("() => JSON.parse(localStorage.getItem('complaintbot-chat')).token")
    assert tokens.conversation_of(kept) == conversation_named(visitor.token)

    await context.close()

    # An altered link opens nothing: the page begins a conversation of its own.
    context = await browser.new_context(base_url=str(site.base_url), locale="zh-CN")
    altered = await context.new_page()
    # (Its signature's last character changed: "AA" for the last two was the signature
    # itself once in 4,096 links.)
    forged = resume[:-1] + ("B" if resume[-1] != "B" else "C")
    await altered.goto(f"/chat/#resume={forged}")
    await altered.get_by_role("button", name="我已阅读并同意，开始").click()
    await expect(altered.locator("#log")).to_contain_text("请用您自己的话描述发生了什么")
    await expect(altered.locator("#log")).not_to_contain_text("宽带断网三天")
    await context.close()
