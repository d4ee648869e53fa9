"""The web chat as a complainant sees it in Chromium at a phone's size: the widget on a
company's site opens the chat; a complaint in Chinese with a photo is filed through it
after a reload in the middle; an agent's reply from the Telegram desk appears live, and
again after the tab was closed. (The same API over plain HTTP: tests/channels/test_web_chat.py.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp.web
import httpx
import pytest
from playwright.async_api import Browser, FrameLocator, Page, ViewportSize, expect

from tests.support.clock import SteppedWallClock
from tests.support.serving import ready, serving
from tests.support.telegram_api import FakeBotApi, FakeGroup
from tests.support.telegram_run import telegram_settings
from tests.support.web_chat import PNG

PHONE = ViewportSize(width=390, height=844)
GROUP_ID = -1004242
AGENT_ID = 4242


@pytest.fixture
def group(api: FakeBotApi) -> FakeGroup:
    agents = api.group(GROUP_ID, "客服组", forum=True)
    agents.join(api.user(AGENT_ID, "李雷", "zh-hans"))
    return agents


@pytest.fixture
async def shop() -> AsyncIterator[str]:
    """The company's own site: another origin than the chat's (`localhost`, the chat
    being on 127.0.0.1), serving a page with the embed snippet for the chat's port."""

    async def home(request: aiohttp.web.Request) -> aiohttp.web.Response:
        port = request.query.get("chat", "0")
        snippet = f'<script src="http://127.0.0.1:{port}/chat/widget.js" async></script>'
        html = f"<!doctype html><html><body><h1>某某通信</h1>{snippet}</body></html>"
        return aiohttp.web.Response(text=html, content_type="text/html")

    app = aiohttp.web.Application()
    app.router.add_get("/", home)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    server = aiohttp.web.TCPSite(runner, "localhost", 0)
    await server.start()
    port = server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://localhost:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def site(
    api: FakeBotApi,
    group: FakeGroup,
    database_url: str,
    tmp_path: Path,
    wall: SteppedWallClock,
    shop: str,
) -> AsyncIterator[httpx.AsyncClient]:
    """`complaintbot serve` with the web chat, Telegram's agents' group on the stand-in,
    and the shop's site allowed to embed the widget."""
    settings = telegram_settings(
        api,
        database_url,
        tmp_path / "data",
        PORT=0,
        TELEGRAM_AGENT_CHAT_ID=GROUP_ID,
        TELEGRAM_AGENT_IDS=str(AGENT_ID),
        WEB_ALLOWED_ORIGINS=shop,
        SWEEP_INTERVAL_SECONDS=0.5,
        CALENDAR="24x7",  # the survey goes out whatever the hour the test runs at
    )
    async with serving(settings, wall) as client:
        await ready(client)
        yield client


def shop_address(shop: str, site: httpx.AsyncClient) -> str:
    return f"{shop}/?chat={site.base_url.port}"


async def shop_page(browser: Browser, site: httpx.AsyncClient, shop: str) -> Page:
    """The company's page with the embed snippet, in a phone-sized Chinese browser."""
    context = await browser.new_context(viewport=PHONE, locale="zh-CN", has_touch=True)
    page = await context.new_page()
    await page.goto(shop_address(shop, site))
    return page


async def open_chat(page: Page) -> FrameLocator:
    await page.get_by_role("button", name="在线投诉").click()
    return page.frame_locator("iframe")


async def say(chat: FrameLocator, text: str) -> None:
    await chat.get_by_label("您的消息").fill(text)
    await chat.get_by_role("button", name="发送", exact=True).click()


async def test_a_complaint_with_a_photo_is_filed_through_the_widget_and_the_agents_reply_arrives(
    site: httpx.AsyncClient,
    browser: Browser,
    group: FakeGroup,
    tmp_path: Path,
    shop: str,
    wall: SteppedWallClock,
) -> None:
    page = await shop_page(browser, site, shop)
    chat = await open_chat(page)
    log = chat.locator("#log")
    await chat.get_by_role("button", name="我已阅读并同意，开始").click()
    await expect(log).to_contain_text("请用您自己的话描述发生了什么")
    await say(chat, "宽带断网三天，客服一直不处理")
    await expect(log).to_contain_text("已记录")
    await chat.get_by_role("button", name="继续").click()
    await expect(log).to_contain_text("请问您的姓名")

    # A reload in the middle: the conversation is back, and it goes on where it was.
    await page.reload()
    chat = await open_chat(page)
    log = chat.locator("#log")
    await expect(log).to_contain_text("宽带断网三天，客服一直不处理")
    await expect(log).to_contain_text("请问您的姓名")
    await say(chat, "张三")
    await expect(log).to_contain_text("我们如何联系您")
    phone = chat.get_by_label("您的手机号码").last
    await expect(phone).to_have_value("+86 ")
    await phone.fill("+86 138 1234 5678")
    await phone.press("Enter")
    await expect(log).to_contain_text("类型")
    await chat.get_by_role("button", name="申诉").click()
    await expect(log).to_contain_text("您投诉的是哪家公司")
    await say(chat, "某某通信科技有限公司")
    await expect(log).to_contain_text("您有证据吗")
    screenshot = tmp_path / "截图.png"
    screenshot.write_bytes(PNG)
    await chat.locator("#file").set_input_files(screenshot)
    await expect(log).to_contain_text("已收到")
    await chat.get_by_role("button", name="完成").last.click()
    await expect(log).to_contain_text("您期望的处理结果")
    await say(chat, "退还多扣的费用")
    await expect(log).to_contain_text("请核对您的投诉内容")
    await chat.get_by_role("button", name="确认提交").click()
    await expect(log).to_contain_text("您的投诉已受理")
    found = re.search(r"TS-\d{8}-\d{4}", await log.inner_text())
    assert found
    case_no = found.group(0)

    # The agents' group has the case; an agent's reply there appears in the open chat.
    await group.expect(case_no, since=0)
    (thread,) = [t for t, name in group.topics.items() if name.startswith(case_no)]
    await group.say(group.members[AGENT_ID], "您好，我们已安排工程师上门检修", thread=thread)
    await expect(log).to_contain_text("您好，我们已安排工程师上门检修")

    # The tab closed and opened again later: the reply is still there.
    context = page.context
    await page.close()
    again = await context.new_page()
    await again.goto(shop_address(shop, site))
    chat = await open_chat(again)
    await expect(chat.locator("#log")).to_contain_text("您好，我们已安排工程师上门检修")
    await expect(chat.locator("#log")).to_contain_text(case_no)

    # Resolved; a day later the survey comes with a link to a page that rates it.
    await group.say(
        group.members[AGENT_ID],
        "/resolve facts=confirmed nature=system_fault responsibility=company severity=minor "
        "已上门修复，费用已退还",
        thread=thread,
    )
    await expect(chat.locator("#log")).to_contain_text("已上门修复，费用已退还")
    wall.advance(days=1, seconds=1)
    survey_link = chat.locator("#log a[href*='/survey/']")
    await expect(survey_link).to_have_count(1, timeout=30_000)
    address = await survey_link.get_attribute("href")
    assert address
    rating = await context.new_page()
    # The link names PUBLIC_BASE_URL; this server listens on a port of its own.
    await rating.goto(str(site.base_url).rstrip("/") + address[address.index("/survey/") :])
    await expect(rating.get_by_role("group")).to_contain_text("2 不满意")
    await rating.get_by_label("2 不满意").check()
    await rating.get_by_label("留言（可选）").fill("上门太慢了")
    await rating.get_by_role("button", name="提交评分").click()
    await expect(rating.get_by_role("heading", level=1)).to_have_text("感谢您的反馈")
    await expect(rating.locator("main")).to_contain_text(case_no)
    await context.close()


async def test_the_chat_page_fits_a_phone_and_labels_every_field(
    site: httpx.AsyncClient, browser: Browser
) -> None:
    context = await browser.new_context(base_url=str(site.base_url), viewport=PHONE, locale="en-US")
    page = await context.new_page()
    await page.goto("/chat/")
    await expect(page.get_by_role("heading", name="Privacy notice")).to_be_visible()
    await page.get_by_role("button", name="I agree; start").click()
    await expect(page.locator("#log")).to_contain_text("describe")
    assert (
        await page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth") <= 0
    )
    unlabelled = await page.evaluate(
        """() => Array.from(document.querySelectorAll("input:not([type=hidden]), textarea"))
        .filter((f) => !(f.id && document.querySelector(`label[for="${CSS.escape(f.id)}"]`))
          && !f.closest("label")).map((f) => f.outerHTML)"""
    )
    assert unlabelled == []
    # Switching the language keeps the conversation.
    await page.get_by_role("link", name="中文").click()
    await expect(page.locator("#log")).to_contain_text("describe")
    await expect(page.get_by_label("您的消息")).to_be_visible()
    await context.close()
