"""The staff web as a person sees it in Chromium: logging in, finding a case by a Chinese
word, answering and resolving it while news arrive without reloading, downloading the
ledger, what each role is refused, sessions that end, and pages that fit a phone and
label every field. (The same rules over plain HTTP: test_staff_http.py.)"""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import openpyxl
from playwright.async_api import Browser, Page, ViewportSize, expect

from complaintbot.settings import Settings
from tests.support.clock import SteppedWallClock
from tests.support.staff_web import PASSWORD, add_staff, file_complaint
from tests.support.telegram_api import FakeBotApi

DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=375, height=740)
SESSION_HOURS = Settings.model_fields["STAFF_SESSION_HOURS"].default

# Every field a person fills, and whether a label names it.
UNLABELLED = """() => Array.from(
  document.querySelectorAll("input:not([type=hidden]), select, textarea")
).filter((field) =>
  !(field.id && document.querySelector(`label[for="${CSS.escape(field.id)}"]`))
  && !field.getAttribute("aria-label") && !field.getAttribute("aria-labelledby")
).map((field) => field.outerHTML)"""
# What the browser's own requests say; those of `page.request` do not say it by themselves.
ENGLISH = {"accept-language": "en-US"}
OVERFLOW = "() => document.documentElement.scrollWidth - window.innerWidth"


async def visit(browser: Browser, web: httpx.AsyncClient, viewport: ViewportSize = DESKTOP) -> Page:
    """A new browser context (its own cookies) asking for English, on the login page."""
    context = await browser.new_context(
        base_url=str(web.base_url), locale="en-US", viewport=viewport, accept_downloads=True
    )
    page = await context.new_page()
    await page.goto("/staff/login")
    return page


async def log_in(page: Page, login: str) -> None:
    await page.get_by_label("Login", exact=True).fill(login)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Case list")).to_be_visible()


async def logged_in(browser: Browser, web: httpx.AsyncClient, login: str) -> Page:
    page = await visit(browser, web)
    await log_in(page, login)
    return page


async def test_a_supervisor_finds_a_case_by_a_chinese_word_answers_and_resolves_it(
    web: httpx.AsyncClient, database_url: str, api: FakeBotApi, browser: Browser
) -> None:
    await add_staff(database_url, "sun", "supervisor", name="Sun Li")
    complainant = api.user(6201, "王五", "zh-hans")
    wanted = await file_complaint(complainant, "申请退款两周了还没有到账")
    other = await file_complaint(api.user(6202, "赵六", "zh-hans"), "信号很差，经常掉线")
    page = await logged_in(browser, web, "sun")
    cases = page.locator("table.cases")
    await expect(cases).to_contain_text(other)
    await page.get_by_label("Search (case number, name, contact, text)").fill("退款")
    await page.get_by_role("button", name="Search", exact=True).click()
    await expect(page.locator("#count")).to_have_text("1 case")
    await expect(cases).not_to_contain_text(other)
    await cases.get_by_role("link", name=wanted).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(wanted)
    await expect(page.locator("section.facts")).to_contain_text("申请退款两周了还没有到账")
    await expect(page.get_by_role("heading", name="Timeline")).to_be_visible()
    await expect(page.locator("#timeline li").first).to_be_visible()
    await expect(page.get_by_text("Chain verified")).to_be_visible()

    # A second tab on the same case, left alone: news reach it without reloading.
    watching = await page.context.new_page()
    await watching.goto(f"/staff/cases/{wanted}")
    await watching.evaluate("window.drawnOnce = true")
    mark = len(complainant.messages)
    await page.get_by_label("Reply to the complainant").fill("我们已加急处理您的退款")
    await page.get_by_role("button", name="Send").click()
    await complainant.expect("我们已加急处理您的退款", since=mark)
    await expect(page.locator("ol.messages")).to_contain_text("我们已加急处理您的退款")
    await expect(watching.locator("ol.messages")).to_contain_text("我们已加急处理您的退款")
    assert await watching.evaluate("window.drawnOnce === true"), "the page was reloaded"
    # The complainant answers in Telegram; the page that sent the reply shows it too.
    await page.evaluate("window.drawnOnce = true")
    await complainant.send_text("好的，谢谢，请尽快")
    await expect(page.locator("ol.messages")).to_contain_text("好的，谢谢，请尽快")
    assert await page.evaluate("window.drawnOnce === true"), "the page was reloaded"

    mark = len(complainant.messages)
    await page.get_by_label("Facts", exact=True).select_option(label="Facts confirmed")
    await page.get_by_label("Nature", exact=True).select_option(label="System fault")
    await page.get_by_label("Responsibility", exact=True).select_option(label="Company responsible")
    await page.get_by_label("Severity", exact=True).select_option(label="Moderate")
    await page.get_by_label("The result the complainant reads").fill("退款已退回您的原支付账户")
    await page.get_by_role("button", name="Resolve", exact=True).click()
    await expect(page.locator("h1 .status")).to_have_text("resolved")
    await expect(page.locator("section.facts")).to_contain_text("退款已退回您的原支付账户")
    await complainant.expect("退款已退回您的原支付账户", since=mark)
    await expect(watching.locator("#timeline")).to_contain_text("resolved")


def _ledger_rows(path: Path, kind: str) -> list[list[str]]:
    if kind == "csv":
        with open(path, encoding="utf-8-sig", newline="") as sheet:
            return list(csv.reader(sheet))
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return [
            ["" if v is None else str(v) for v in row]
            for row in book.worksheets[0].iter_rows(values_only=True)
        ]
    finally:
        book.close()


async def test_an_agent_downloads_the_masked_ledger_and_neither_agent_nor_auditor_oversteps(
    web: httpx.AsyncClient, database_url: str, api: FakeBotApi, browser: Browser, tmp_path: Path
) -> None:
    await add_staff(database_url, "agent1", "agent")
    await add_staff(database_url, "audit", "auditor")
    case_no = await file_complaint(api.user(6301, "欧阳娜娜", "zh-hans"), "话费多扣", "欧阳娜娜")
    page = await logged_in(browser, web, "agent1")
    await page.get_by_role("link", name="Ledger").click()
    await expect(page.get_by_role("heading", name="Ledger")).to_be_visible()
    for kind in ("csv", "xlsx"):
        await page.get_by_label("Format").select_option(kind)
        async with page.expect_download() as started:
            await page.get_by_role("button", name="Download").click()
        download = await started.value
        assert download.suggested_filename.endswith(f"-masked.{kind}")
        saved = tmp_path / download.suggested_filename
        await download.save_as(saved)
        rows = _ledger_rows(saved, kind)
        (row,) = [r for r in rows if case_no in r]
        assert "欧***" in row and "欧阳娜娜" not in "".join(row), row
        assert "13812345678" not in "".join(row)
    # No unmasked ledger for an agent: not offered, and refused when forged.
    await expect(page.get_by_label("Unmasked (full names and contacts)")).to_have_count(0)
    token = await page.locator("input[name=csrf]").first.input_value()
    forged = await page.request.post(
        "/staff/ledger",
        form={
            "csrf": token,
            "from": "2000-01-01",
            "to": "2100-01-01",
            "format": "csv",
            "unmasked": "1",
            "reason": "curious",
        },
        headers=ENGLISH,
    )
    assert forged.status == 403
    assert "Only supervisors and auditors may download the unmasked ledger." in await forged.text()
    assert "欧阳娜娜" not in await forged.text()

    auditor = await logged_in(browser, web, "audit")
    await auditor.goto(f"/staff/cases/{case_no}")
    await expect(auditor.locator("section.facts")).to_contain_text("话费多扣")
    await expect(auditor.get_by_role("heading", name="Work the case")).to_have_count(0)
    await expect(auditor.get_by_label("Reply to the complainant")).to_have_count(0)
    events = await auditor.locator("#timeline li").count()
    token = await auditor.locator("input[name=csrf]").first.input_value()
    tried = await auditor.request.post(
        f"/staff/cases/{case_no}/act",
        form={"csrf": token, "command": "reply", "text": "auditor says hello"},
        headers=ENGLISH,
        max_redirects=0,
    )
    assert tried.status == 303
    await auditor.goto(tried.headers["location"])
    await expect(auditor.get_by_role("alert")).to_contain_text("may not")
    await expect(auditor.locator("#timeline li")).to_have_count(events)
    await expect(auditor.locator("ol.messages")).not_to_contain_text("auditor says hello")


async def test_a_form_without_its_token_is_refused_and_an_ended_session_asks_to_log_in(
    web: httpx.AsyncClient,
    database_url: str,
    api: FakeBotApi,
    browser: Browser,
    wall: SteppedWallClock,
) -> None:
    await add_staff(database_url, "qian", "supervisor")
    case_no = await file_complaint(api.user(6401, "张三", "zh-hans"), "宽带每天晚上断线")
    page = await logged_in(browser, web, "qian")
    await page.goto(f"/staff/cases/{case_no}")
    note = page.locator("form", has=page.locator("#note-text"))
    await note.locator("input[name=csrf]").evaluate("(field) => field.remove()")
    await page.get_by_label("Internal note (never sent to the complainant)").fill("forged note")
    async with page.expect_navigation() as sent:
        await note.get_by_role("button").click()
    assert (await sent.value).status == 403
    await expect(page.get_by_role("heading", name="Not possible")).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("did not come from this site")
    await page.get_by_role("link", name="Back to the cases").click()
    await page.get_by_role("link", name=case_no).click()
    await expect(page.locator("#timeline")).to_be_visible()
    await expect(page.locator("main")).not_to_contain_text("forged note")

    wall.advance(hours=SESSION_HOURS, seconds=1)
    await page.get_by_role("link", name="Case list").click()
    await expect(page.get_by_role("heading", name="Log in to the staff web")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_text("Your session has ended; log in again.")
    await log_in(page, "qian")


async def _looks_right(page: Page, heading: str) -> None:
    """The page drew: its heading shows, it has text, it fits the window's width, and a
    label names each of its fields."""
    await expect(page.get_by_role("heading", level=1)).to_contain_text(heading)
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    assert len((await page.locator("body").inner_text()).strip()) > 60
    overflow = await page.evaluate(OVERFLOW)
    assert overflow <= 1, f"{page.url} is {overflow}px wider than the window"
    assert await page.evaluate(UNLABELLED) == [], page.url


async def test_every_page_fits_a_desktop_and_a_phone_and_labels_every_field(
    web: httpx.AsyncClient, database_url: str, api: FakeBotApi, browser: Browser
) -> None:
    await add_staff(database_url, "zhou", "supervisor")
    case_no = await file_complaint(
        api.user(6501, "诸葛孔明", "zh-hans"),
        "宽带从上周一开始每天晚上八点到十一点之间频繁断线，打客服电话排队一个多小时也没有人接听",
    )
    pages = [
        ("/staff/cases", "Case list"),
        (f"/staff/cases/{case_no}", case_no),
        ("/staff/figures", "Figures"),
        ("/staff/ledger", "Ledger"),
        ("/staff/access", "Access log"),
    ]
    for viewport in (DESKTOP, PHONE):
        page = await visit(browser, web, viewport=viewport)
        await _looks_right(page, "Log in to the staff web")
        await log_in(page, "zhou")
        for path, heading in pages:
            await page.goto(path)
            await _looks_right(page, heading)
        await page.context.close()


async def test_the_figures_show_the_report_and_the_language_switches(
    web: httpx.AsyncClient, database_url: str, browser: Browser
) -> None:
    await add_staff(database_url, "wu", "agent")
    page = await logged_in(browser, web, "wu")
    await page.get_by_role("link", name="Figures").click()
    await expect(page.get_by_role("heading", name="Figures")).to_be_visible()
    report = page.frame_locator("iframe.report")
    await expect(report.get_by_role("heading", level=1)).to_have_text(
        "Complaint handling quality report"
    )
    await page.get_by_role("link", name="中文").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("统计数据")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(report.get_by_role("heading", level=1)).to_have_text("投诉处理服务质量报告")
    await page.get_by_role("link", name="English").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Figures")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
