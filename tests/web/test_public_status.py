"""The status page over real HTTP on `complaintbot serve`, with mail on aiosmtpd: a case
number and the complaint's phone or email bring a one-time code by mail, the code shows
the case's status and public story; nothing of the case shows without it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ViewportSize, expect
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import access_log
from storage.database import create_engine
from storage.models import OutboxItem
from tests.support.clock import SteppedWallClock
from tests.support.dovecot import PASSWORD, USER, Dovecot
from tests.support.serving import ready, serving
from tests.support.smtp_server import SmtpServer
from tests.support.staff_web import StaffClient, add_staff, csrf_of
from tests.support.telegram_api import FakeBotApi, FakeUser
from tests.support.telegram_run import step, telegram_settings
from tests.support.waiting import eventually

EMAIL = "zhang.san@example.cn"
PHONE = ViewportSize(width=375, height=740)
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"
SAME_ANSWER = "If the details match a case, we have sent a code to its email address."
ENGLISH = {"accept-language": "en"}


@pytest.fixture
async def site(
    api: FakeBotApi,
    database_url: str,
    tmp_path: Path,
    wall: SteppedWallClock,
    dovecot: Dovecot,
    smtp_server: SmtpServer,
) -> AsyncIterator[httpx.AsyncClient]:
    """`complaintbot serve` with Telegram on the stand-in and mail on dovecot + aiosmtpd."""
    mail = {
        "IMAP_HOST": "127.0.0.1",
        "IMAP_PORT": dovecot.port,
        "IMAP_SECURITY": "none",
        "IMAP_USERNAME": USER,
        "IMAP_PASSWORD": PASSWORD,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_server.port,
        "SMTP_SECURITY": "none",
        "MAIL_FROM": f"投诉受理 <{USER}>",
    }
    settings = telegram_settings(api, database_url, tmp_path / "data", PORT=0, **mail)
    async with serving(settings, wall) as client:
        await ready(client)
        yield client


async def _file_with_email(user: FakeUser) -> str:
    """A Chinese complaint whose contact is a phone number and an email address."""
    script = [
        ("text", "/start", "请用您自己的话描述发生了什么"),
        ("text", "宽带每天晚上断线，已经一周了", "已记录"),
        ("press", "继续", "请问您的姓名"),
        ("text", "张三", "我们如何联系您"),
        ("text", f"13812345678 {EMAIL}", "类型"),
        ("press", "申诉", "您投诉的是哪家公司"),
        ("text", "某某通信科技有限公司", "您有证据吗"),
        ("press", "跳过", "您期望的处理结果"),
        ("text", "恢复网络", "请核对您的投诉内容"),
        ("press", "确认提交", "您的投诉已受理"),
    ]
    reply = ""
    for action, value, answer in script:
        reply = await step(user, action, value, answer)
    found = re.search(r"TS-\d{8}-\d{4}", reply)
    assert found, reply
    return found.group(0)


async def _codes_queued(database_url: str) -> int:
    """The code mails in the outbox, sent or not."""
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            count = await session.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.kind == "status_code")
            )
    finally:
        await engine.dispose()
    return int(count or 0)


class Visitor:
    """A browser without JavaScript on the status page: its cookies, its last page."""

    def __init__(self, site: httpx.AsyncClient) -> None:
        self.http = httpx.AsyncClient(base_url=site.base_url, headers=ENGLISH)
        self.page = ""

    async def __aenter__(self) -> Visitor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.http.aclose()

    async def ask(self, case_no: str, contact: str) -> httpx.Response:
        self.page = (await self.http.get("/status")).text
        form = {"csrf": csrf_of(self.page), "case_no": case_no, "contact": contact}
        answer = await self.http.post("/status", data=form)
        self.page = answer.text
        return answer

    async def enter(self, code: str) -> httpx.Response:
        case_no = re.search(r'name="case_no" value="([^"]*)"', self.page)
        assert case_no, self.page[:500]
        form = {"csrf": csrf_of(self.page), "case_no": case_no.group(1), "code": code}
        answer = await self.http.post("/status/code", data=form)
        if answer.status_code != 303:
            self.page = answer.text
        return answer


async def _code(smtp: SmtpServer, count: int) -> str:
    """The code in the `count`-th mail to the complainant (the only mail they get)."""

    async def mails() -> list[str]:
        found = smtp.to(EMAIL)
        return [_plain(m.message) for m in found] if len(found) >= count else []

    texts = await eventually(mails)
    code = re.search(r"\b(\d{6})\b", texts[count - 1])
    assert code, texts[count - 1]
    return code.group(1)


def _plain(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


async def test_the_emailed_code_shows_the_cases_status_and_public_story(
    site: httpx.AsyncClient, api: FakeBotApi, smtp_server: SmtpServer, database_url: str
) -> None:
    zhang = api.user(7101, "张三", "zh-hans")
    case_no = await _file_with_email(zhang)
    await add_staff(database_url, "li", "agent", name="Li Lei")
    async with StaffClient(site) as agent:
        await agent.login("li")
        await agent.get(f"/staff/cases/{case_no}")
        await agent.post(f"/staff/cases/{case_no}/act", {"command": "note", "text": "内部备注"})
        await agent.get(f"/staff/cases/{case_no}")
        mark = len(zhang.messages)
        await agent.post(
            f"/staff/cases/{case_no}/act", {"command": "reply", "text": "工程师明天上门检修。"}
        )
        await zhang.expect("工程师明天上门检修", since=mark)

    async with Visitor(site) as visitor:
        # The number typed loosely, the email in other letter cases: the same case.
        asked = await visitor.ask(f" {case_no.lower()} ", "Zhang.San@EXAMPLE.cn")
        assert asked.status_code == 200 and SAME_ANSWER in asked.text
        code = await _code(smtp_server, 1)
        entered = await visitor.enter(code)
        assert entered.status_code == 303 and entered.headers["location"] == "/status/case"
        (cookie,) = [c for c in entered.headers.get_list("set-cookie") if "cb_status=" in c]
        assert "HttpOnly" in cookie and "Path=/status" in cookie and "Max-Age=1800" in cookie
        page = await visitor.http.get("/status/case")
        assert page.status_code == 200
        assert case_no in page.text and "in progress" in page.text
        story = page.text.split('id="story"')[1].split("</ol>")[0]
        assert "Complaint received" in story and "Receipt sent to you" in story
        assert "您的投诉已受理" in story  # the receipt as the complainant got it
        assert "Reply from us" in story and "工程师明天上门检修。" in story
        assert "内部备注" not in page.text and "Li Lei" not in page.text
        assert "We will resolve it by" in page.text and "Asia/Shanghai" in page.text
        # A reload shows the case again; the code itself works once only.
        assert (await visitor.http.get("/status/case")).status_code == 200
        again = await visitor.ask(case_no, "+86 138 1234 5678")  # now by the phone
        assert SAME_ANSWER in again.text
        second = await _code(smtp_server, 2)
        assert (await visitor.enter(code)).status_code == 400
        assert (await visitor.enter(second)).status_code == 303
        assert case_no in (await visitor.http.get("/status/case")).text

    async with Visitor(site) as stranger:
        # Without the cookie the case page leads back to the form.
        away = await stranger.http.get("/status/case")
        assert away.status_code == 303 and away.headers["location"] == "/status"
    engine = create_engine(database_url)
    try:
        looks = [e for e in await access_log.access_entries(engine) if e.actor == "complainant"]
    finally:
        await engine.dispose()
    assert [(e.action, e.target, e.via) for e in looks] == [("case_view", case_no, "web")] * 3


async def test_nothing_of_a_case_shows_without_its_valid_code(
    site: httpx.AsyncClient,
    api: FakeBotApi,
    smtp_server: SmtpServer,
    wall: SteppedWallClock,
    database_url: str,
) -> None:
    case_no = await _file_with_email(api.user(7201, "张三", "zh-hans"))
    async with Visitor(site) as visitor:
        # Someone else's contact, or a case that does not exist: the same answer, no mail.
        others = [
            (case_no, "13900000000"),
            (case_no, "li@example.cn"),
            ("TS-20200101-0001", EMAIL),
            (case_no, "not a contact"),
        ]
        for number, contact in others:
            answer = await visitor.ask(number, contact)
            assert answer.status_code == 200 and SAME_ANSWER in answer.text
        assert (await visitor.ask(case_no, EMAIL)).status_code == 200
        code = await _code(smtp_server, 1)
        assert await _codes_queued(database_url) == 1
        wrong = "000000" if code != "000000" else "111111"
        refused = await visitor.enter(wrong)
        assert refused.status_code == 400 and "That code is wrong" in refused.text
        assert "宽带" not in refused.text and "某某通信" not in refused.text
        assert "cb_status" not in refused.headers.get("set-cookie", "")
        # Four more wrong tries (five in all) and the right code no longer works.
        for _ in range(4):
            assert (await visitor.enter(wrong)).status_code == 400
        assert (await visitor.enter(code)).status_code == 400
        assert (await visitor.http.get("/status/case")).status_code == 303

        # A new code, entered 11 minutes later: expired.
        await visitor.ask(case_no, EMAIL)
        late = await _code(smtp_server, 2)
        wall.advance(minutes=11)
        assert (await visitor.enter(late)).status_code == 400

        # A form without its CSRF token is refused, and sends nothing.
        forged = await visitor.http.post("/status", data={"case_no": case_no, "contact": EMAIL})
        assert forged.status_code == 403
        forged_code = await visitor.http.post(
            "/status/code", data={"case_no": case_no, "code": late}
        )
        assert forged_code.status_code == 403
    assert await _codes_queued(database_url) == 2


async def test_at_most_five_codes_an_hour_go_to_one_case(
    site: httpx.AsyncClient, api: FakeBotApi, database_url: str
) -> None:
    case_no = await _file_with_email(api.user(7301, "张三", "zh-hans"))
    async with Visitor(site) as visitor:
        for _ in range(6):
            answer = await visitor.ask(case_no, EMAIL)
            assert SAME_ANSWER in answer.text  # the sixth too: it says nothing of the limit
    assert await _codes_queued(database_url) == 5


async def test_in_a_phone_sized_browser_the_code_shows_the_story_and_a_wrong_one_does_not(
    site: httpx.AsyncClient, api: FakeBotApi, smtp_server: SmtpServer, browser: Browser
) -> None:
    case_no = await _file_with_email(api.user(7401, "张三", "zh-hans"))
    context = await browser.new_context(base_url=str(site.base_url), locale="zh-CN", viewport=PHONE)
    page = await context.new_page()
    await page.goto("/status")
    await page.get_by_label("受理编号").fill(case_no)
    await page.get_by_label("电话号码或电子邮箱").fill("13812345678")
    await page.get_by_role("button", name="发送验证码").click()
    await expect(page.locator("#code-sent")).to_contain_text("我们已将验证码发送到该案件的电子邮箱")
    code = await _code(smtp_server, 1)
    await page.get_by_label("验证码").fill("999999" if code != "999999" else "888888")
    await page.get_by_role("button", name="查看我的案件").click()
    await expect(page.locator("#code-error")).to_be_visible()
    await expect(page.locator("#story")).to_have_count(0)
    await page.get_by_label("验证码").fill(code)
    await page.get_by_role("button", name="查看我的案件").click()
    story = page.locator("ol.story")
    await expect(story).to_contain_text("已向您发送受理回执")
    await expect(story).to_contain_text("您的投诉已受理")
    await expect(page.locator("#case-status")).to_have_text("已受理，等待客服处理")
    assert await page.evaluate(OVERFLOW) <= 0
    await page.reload()
    await expect(page.locator("ol.story")).to_contain_text("已收到投诉")
    await context.close()


async def test_without_mail_the_page_says_it_cannot_send_codes(web: httpx.AsyncClient) -> None:
    async with Visitor(web) as visitor:
        answer = await visitor.ask("TS-20260101-0001", "13812345678")
        assert answer.status_code == 503
        assert "The status page cannot send codes here" in answer.text
