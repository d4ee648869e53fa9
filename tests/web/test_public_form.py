"""The plain complaint form at /complaint on a running `complaintbot serve`, over HTTP as
a browser without JavaScript posts it: every field shown, a case filed on the web
channel with its evidence and receipt, the chat's messages for a wrong answer, CSRF,
one case for a form posted twice, files refused by size and by what their bytes are,
and the honeypot. Last, a Chinese complaint filed in Chromium with JavaScript off."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ViewportSize, expect
from sqlalchemy import ColumnElement

from storage.models import Case, Evidence, Message, RawUpdate, TimelineEvent
from tests.support.clock import SteppedWallClock
from tests.support.serving import ready, serving
from tests.support.telegram_api import FakeBotApi, FakeGroup
from tests.support.telegram_run import stored_rows, telegram_settings
from tests.support.waiting import eventually

AGENTS = -100424242
PHONE_SIZED = ViewportSize(width=390, height=844)
CASE_NO = re.compile(r"TS-\d{8}-\d{4}")
_HIDDEN = re.compile(r'name="(csrf|submission)" value="([^"]+)"')
# A 1×1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
FIELDS = {
    "name": "Zhang San",
    "phone": "13812345678",
    "email": "zhang@example.com",
    "category": "appeal",
    "subject": "Example Telecom Ltd",
    "description": "I was charged twice for my broadband in March.",
    "expectation": "Refund the second charge",
    "consent": "yes",
}


@pytest.fixture
def agents(api: FakeBotApi) -> FakeGroup:
    return api.group(AGENTS, "Agents")


@pytest.fixture
async def site(
    api: FakeBotApi,
    agents: FakeGroup,
    database_url: str,
    tmp_path: Path,
    wall: SteppedWallClock,
) -> AsyncIterator[httpx.AsyncClient]:
    """`complaintbot serve` with the agents' group on the Bot API stand-in and files
    limited to 1 MB."""
    settings = telegram_settings(
        api,
        database_url,
        tmp_path / "data",
        PORT=0,
        TELEGRAM_AGENT_CHAT_ID=AGENTS,
        WEB_MAX_UPLOAD_MB=1,
    )
    async with serving(settings, wall) as client:
        await ready(client)
        yield client


class Visitor:
    """A browser without JavaScript: its cookies, the form it was last shown."""

    def __init__(self, site: httpx.AsyncClient) -> None:
        self.http = httpx.AsyncClient(base_url=site.base_url, headers={"accept-language": "en"})
        self.page = ""

    async def __aenter__(self) -> Visitor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.http.aclose()

    async def open(self) -> httpx.Response:
        response = await self.http.get("/complaint")
        self.page = response.text
        return response

    def hidden(self) -> dict[str, str]:
        return dict(_HIDDEN.findall(self.page))

    async def send(
        self, fields: dict[str, str], files: tuple[tuple[str, bytes, str], ...] = (), **hidden: str
    ) -> httpx.Response:
        """Posts the form last shown, with its hidden fields unless `hidden` says otherwise."""
        data = {**self.hidden(), **hidden, **fields}
        uploads: Any = [("evidence", file) for file in files] or [
            ("evidence", ("", b"", "application/octet-stream"))
        ]
        response = await self.http.post("/complaint", data=data, files=uploads)
        self.page = response.text
        return response


async def cases(database_url: str, *where: ColumnElement[bool]) -> list[Case]:
    return await stored_rows(database_url, Case, *where)


async def test_the_form_shows_every_field_with_its_label(site: httpx.AsyncClient) -> None:
    async with Visitor(site) as visitor:
        page = await visitor.open()
    assert page.status_code == 200
    assert len(page.content) < 100_000
    for field in ("name", "phone", "email", "subject", "description", "expectation", "evidence"):
        assert f'<label for="f-{field}">' in page.text, field
        assert f'id="f-{field}" name="{field}"' in page.text, field
    assert page.text.count('name="category" value=') == 5
    assert 'name="consent"' in page.text and "I have read the privacy notice" in page.text
    assert 'href="/privacy"' in page.text
    assert 'type="file" id="f-evidence" name="evidence" multiple accept="image/jpeg' in page.text
    assert 'name="website"' in page.text  # the honeypot, hidden from people
    assert set(visitor.hidden()) == {"csrf", "submission"}
    assert "<script" not in page.text
    assert "cb_csrf" in page.headers["set-cookie"]
    assert "form-action 'self'" in page.headers["content-security-policy"]


async def test_a_complaint_with_a_picture_is_filed_on_the_web_channel(
    site: httpx.AsyncClient, database_url: str, agents: FakeGroup, api: FakeBotApi
) -> None:
    async with Visitor(site) as visitor:
        await visitor.open()
        receipt = await visitor.send(FIELDS, (("screen.png", PNG, "application/octet-stream"),))
    assert receipt.status_code == 200, receipt.text[:500]
    assert "Your complaint has been accepted." in receipt.text
    found = CASE_NO.search(receipt.text)
    assert found, receipt.text
    case_no = found.group(0)
    assert "We will respond by" in receipt.text and "(Asia/Shanghai)" in receipt.text
    assert "zhang@example.com" in receipt.text and 'href="/status"' in receipt.text

    (case,) = await cases(database_url)
    assert (case.case_no, case.channel, case.locale) == (case_no, "web", "en")
    assert (case.contact_name, case.contact_phone, case.contact_email) == (
        "Zhang San",
        "+8613812345678",
        "zhang@example.com",
    )
    assert (case.category, case.subject) == ("appeal", "Example Telecom Ltd")
    assert case.description == FIELDS["description"]
    (evidence,) = await stored_rows(database_url, Evidence)
    assert (evidence.case_id, evidence.name, evidence.mime, evidence.size) == (
        case.id,
        "screen.png",
        "image/png",
        len(PNG),
    )
    # The form as received is the case's first message, with the notice agreed to.
    (inbound,) = await stored_rows(database_url, Message, Message.direction == "in")
    assert inbound.case_id == case.id and inbound.raw["consent"]
    (notice,) = await stored_rows(
        database_url, TimelineEvent, TimelineEvent.kind == "privacy_notice"
    )
    assert notice.case_id == case.id
    assert notice.payload == {
        "version": inbound.raw["consent"],
        "agreed": True,
        "how": "agreed_on_web",
    }
    (raw,) = await stored_rows(database_url, RawUpdate, RawUpdate.channel == "web")
    assert raw.update_key.startswith("form:") and raw.state == "handled"

    async def receipted() -> Case | None:
        (now,) = await cases(database_url)
        return now if now.receipt_sent_at is not None else None

    await eventually(receipted)
    # The agents see the new case like any other.
    await api.wait_until(lambda: any(case_no in text for text in agents.texts()))


async def test_a_wrong_phone_gets_the_chats_message_and_keeps_the_other_answers(
    site: httpx.AsyncClient, database_url: str
) -> None:
    async with Visitor(site) as visitor:
        await visitor.open()
        first = visitor.hidden()["submission"]
        wrong = await visitor.send({**FIELDS, "phone": "12345", "email": ""})
        assert wrong.status_code == 400
        assert (
            "“12345” is not a valid phone number or email address. Please send a phone number "
            "such as 13812345678 or an email such as name@example.com."
        ) in wrong.text
        assert 'role="alert"' in wrong.text
        assert 'id="f-phone" name="phone" value="12345"' in wrong.text
        assert 'aria-invalid="true" aria-describedby="e-phone"' in wrong.text
        assert 'id="f-name" name="name" value="Zhang San"' in wrong.text
        assert "I was charged twice for my broadband in March.</textarea>" in wrong.text
        assert 'value="appeal" checked' in wrong.text
        # The corrected form is a new one.
        assert visitor.hidden()["submission"] != first

        neither = await visitor.send({**FIELDS, "phone": "", "email": ""})
        assert "Please give a mobile phone number or an email address (or both)." in neither.text
        assert 'aria-describedby="e-contact"' in neither.text

        empty = await visitor.send({**FIELDS, "name": " ", "consent": ""})
        assert "Please fill in this field." in empty.text
        assert "Please confirm that you have read the privacy notice." in empty.text
    assert await cases(database_url) == []


async def test_a_wrong_csrf_token_is_refused_and_files_nothing(
    site: httpx.AsyncClient, database_url: str
) -> None:
    async with Visitor(site) as visitor:
        await visitor.open()
        refused = await visitor.send(FIELDS, csrf="x" * 43)
    assert refused.status_code == 403
    assert "This form has expired." in refused.text
    assert await cases(database_url) == []
    assert await stored_rows(database_url, RawUpdate) == []


async def test_a_form_sent_twice_files_one_case_and_shows_the_same_receipt(
    site: httpx.AsyncClient, database_url: str
) -> None:
    async with Visitor(site) as visitor:
        await visitor.open()
        sent = visitor.hidden()
        first = await visitor.send(FIELDS, (("a.png", PNG, "image/png"),))
        again = await visitor.send(FIELDS, (("a.png", PNG, "image/png"),), **sent)
        # A double click: the same form posted twice at once.
        await visitor.open()
        both = await asyncio.gather(visitor.send(FIELDS), visitor.send(FIELDS))
    numbers = {CASE_NO.findall(r.text)[0] for r in (first, again)}
    assert len(numbers) == 1 and again.status_code == 200
    assert "Your complaint has been accepted." in again.text
    at_once = {CASE_NO.findall(r.text)[0] for r in both}
    assert len(at_once) == 1 and at_once != numbers
    assert len(await cases(database_url)) == 2
    assert len(await stored_rows(database_url, Evidence)) == 1


async def test_a_file_too_large_or_not_a_document_is_refused_with_a_clear_message(
    site: httpx.AsyncClient, database_url: str
) -> None:
    big = PNG + b"\0" * (1024 * 1024)
    async with Visitor(site) as visitor:
        await visitor.open()
        too_large = await visitor.send(FIELDS, (("big.png", big, "image/png"),))
        assert too_large.status_code == 400
        assert "“big.png” is larger than 1 MB." in too_large.text
        assert 'aria-describedby="e-evidence h-evidence"' in too_large.text
        assert "Please choose your files again" in too_large.text

        program = await visitor.send(
            FIELDS, (("photo.exe", b"MZ\x90\0" + b"\0" * 64, "image/png"),)
        )
        assert program.status_code == 400
        assert "“photo.exe” is not a picture or a document we accept." in program.text

        # A program named as a picture is still a program.
        renamed = await visitor.send(FIELDS, (("photo.png", b"MZ\x90\0" * 8, "image/png"),))
        assert "“photo.png” is not a picture or a document we accept." in renamed.text
        # More than every file at its limit is refused before it is read.
        heap = tuple((f"{n}.png", big, "image/png") for n in range(13))
        too_much = await visitor.send(FIELDS, heap)
        assert too_much.status_code == 413
        assert "The files are too large together: at most 10 files of 1 MB each." in (too_much.text)
    assert await cases(database_url) == []
    assert await stored_rows(database_url, Evidence) == []


async def test_a_filled_honeypot_is_thanked_and_files_nothing(
    site: httpx.AsyncClient, database_url: str
) -> None:
    async with Visitor(site) as visitor:
        await visitor.open()
        robot = await visitor.send({**FIELDS, "website": "http://spam.example"})
    assert robot.status_code == 200
    assert "Your complaint was sent." in robot.text
    assert not CASE_NO.search(robot.text)
    assert await cases(database_url) == []


async def test_a_chinese_complaint_is_filed_on_a_phone_without_javascript(
    site: httpx.AsyncClient, database_url: str, browser: Browser, tmp_path: Path
) -> None:
    photo = tmp_path / "截图.png"
    photo.write_bytes(PNG)
    context = await browser.new_context(
        base_url=str(site.base_url),
        java_script_enabled=False,
        viewport=PHONE_SIZED,
        locale="zh-CN",
        extra_http_headers={"accept-language": "zh-CN,zh;q=0.9"},
    )
    page = await context.new_page()
    await page.goto("/complaint")
    await expect(page.get_by_role("heading", name="我要投诉")).to_be_visible()
    assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
    await page.get_by_label("您的姓名或单位名称").fill("张三")
    await page.get_by_label("手机号码").fill("13812345678")
    await page.get_by_label("申诉").check()
    await page.get_by_label("投诉的公司、产品或服务").fill("某某通信科技有限公司")
    await page.get_by_label("投诉内容").fill("宽带每天晚上断线，客服不处理。")
    await page.get_by_label("证据").set_input_files(photo)
    await page.get_by_label("期望结果").fill("尽快修复并退还本月费用")
    await page.get_by_label("我已阅读隐私声明").check()
    await page.get_by_role("button", name="提交投诉").click()
    await expect(page.get_by_role("heading", name="您的投诉已受理。")).to_be_visible()
    shown = await page.locator("#case-no").inner_text()
    await context.close()

    (case,) = await cases(database_url)
    assert (case.case_no, case.channel, case.locale) == (shown, "web", "zh_CN")
    assert case.contact_name == "张三" and case.contact_phone == "+8613812345678"
    (evidence,) = await stored_rows(database_url, Evidence)
    assert (evidence.name, evidence.mime, evidence.case_id) == ("截图.png", "image/png", case.id)
