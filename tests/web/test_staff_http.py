"""The staff web over real HTTP on `complaintbot serve`, without a browser: logins and
their lock-out, sessions that end, CSRF, roles, the ledger's masking, and the access log
that records each of these. (The browser's view: test_staff_browser.py.)"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from storage import access_log
from storage.database import create_engine
from storage.models import Agent
from tests.support.clock import SteppedWallClock
from tests.support.serving import ready, serving
from tests.support.staff_web import PASSWORD, StaffClient, add_staff, csrf_of, file_complaint
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import stored_rows, telegram_settings


@pytest.fixture
def wall() -> SteppedWallClock:
    """Today's date (PostgreSQL's clock must agree for readiness); tests move it on."""
    return SteppedWallClock(datetime.now(UTC))


@pytest.fixture
async def web(
    api: FakeBotApi, database_url: str, tmp_path: Path, wall: SteppedWallClock
) -> AsyncIterator[httpx.AsyncClient]:
    settings = telegram_settings(api, database_url, tmp_path / "data", PORT=0)
    async with serving(settings, wall) as client:
        await ready(client)
        yield client


async def _entries(database_url: str) -> list[access_log.StoredAccess]:
    engine = create_engine(database_url)
    try:
        return await access_log.access_entries(engine)
    finally:
        await engine.dispose()


async def test_five_wrong_passwords_lock_the_login_and_each_try_is_recorded(
    web: httpx.AsyncClient, database_url: str
) -> None:
    await add_staff(database_url, "li", "agent", name="Li Lei")
    async with StaffClient(web) as browser:
        for _ in range(4):
            wrong = await browser.login("li", "not the password")
            assert wrong.status_code == 401
            assert "Wrong login or password." in wrong.text or "登录名或密码错误" in wrong.text
        locked = await browser.login("li", "still wrong")
        assert locked.status_code == 401
        assert "locked until" in locked.text or "已锁定" in locked.text
        # The right password does not open a locked login either.
        refused = await browser.login("li")
        assert refused.status_code == 401 and "cb_staff" not in refused.headers.get(
            "set-cookie", ""
        )
    entries = await _entries(database_url)
    assert [e.action for e in entries] == ["login_failed"] * 6
    assert entries[-2].detail.get("locked_until")
    assert {e.actor for e in entries} == {"li"}
    assert "not the password" not in str([e.detail for e in entries])


async def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
    web: httpx.AsyncClient, database_url: str, api: FakeBotApi
) -> None:
    await add_staff(database_url, "zhao", "agent")
    case_no = await file_complaint(api.user(5101, "张三", "zh-hans"), "宽带每天晚上断线")
    async with StaffClient(web) as browser:
        assert (await browser.login("zhao")).status_code == 303
        await browser.get(f"/staff/cases/{case_no}")
        forged = await browser.post(
            f"/staff/cases/{case_no}/act", {"command": "note", "text": "forged"}, csrf=False
        )
        assert forged.status_code == 403
        page = await browser.get(f"/staff/cases/{case_no}")
        assert "forged" not in page.text


async def test_an_expired_session_goes_back_to_the_login_page(
    web: httpx.AsyncClient, database_url: str, wall: SteppedWallClock
) -> None:
    await add_staff(database_url, "qian", "supervisor")
    async with StaffClient(web) as browser:
        await browser.login("qian")
        assert (await browser.get("/staff/cases")).status_code == 200
        wall.advance(hours=8, seconds=1)
        gone = await browser.get("/staff/cases")
        assert gone.status_code == 303
        assert gone.headers["location"].startswith("/staff/login?next=/staff/cases")
        login = await browser.follow(gone)
        assert "log in again" in login.text or "重新登录" in login.text


async def test_a_two_character_chinese_word_finds_its_case(
    web: httpx.AsyncClient, database_url: str, api: FakeBotApi
) -> None:
    await add_staff(database_url, "sun", "supervisor")
    wanted = await file_complaint(api.user(5201, "王五", "zh-hans"), "申请退款两周了还没有到账")
    other = await file_complaint(api.user(5202, "赵六", "zh-hans"), "信号很差，经常掉线")
    async with StaffClient(web) as browser:
        await browser.login("sun")
        await browser.get("/staff/cases")
        listed = await browser.follow(await browser.post("/staff/cases", {"q": "退款"}))
        assert wanted in listed.text and other not in listed.text
        # The search text never goes into an address.
        assert "退款" not in str(listed.url) and "%E9%80%80" not in str(listed.url)
        none = await browser.follow(await browser.post("/staff/cases", {"q": "款退"}))
        assert wanted not in none.text
    searched = [e for e in await _entries(database_url) if e.action == "case_list"]
    assert searched and searched[-1].detail["searched"] is True


async def test_the_ledger_is_masked_for_an_agent_and_unmasked_for_a_supervisor_with_a_reason(
    web: httpx.AsyncClient, database_url: str, api: FakeBotApi
) -> None:
    await add_staff(database_url, "agent1", "agent")
    await add_staff(database_url, "boss", "supervisor")
    case_no = await file_complaint(api.user(5301, "欧阳娜娜", "zh-hans"), "话费多扣", "欧阳娜娜")
    form = {"from": "2000-01-01", "to": "2100-01-01", "format": "csv"}
    async with StaffClient(web) as agent:
        await agent.login("agent1")
        await agent.get("/staff/ledger")
        masked = await agent.post("/staff/ledger", form)
        assert masked.status_code == 200
        rows = list(csv.reader(io.StringIO(masked.content.decode("utf-8-sig"))))
        (row,) = [r for r in rows if case_no in r]
        assert "欧阳娜娜" not in row and "13812345678" not in "".join(row)
        await agent.get("/staff/ledger")
        refused = await agent.post("/staff/ledger", {**form, "unmasked": "1", "reason": "x"})
        assert refused.status_code == 403
    async with StaffClient(web) as boss:
        await boss.login("boss")
        await boss.get("/staff/ledger")
        no_reason = await boss.post("/staff/ledger", {**form, "unmasked": "1"})
        assert no_reason.status_code == 400
        full = await boss.post(
            "/staff/ledger", {**form, "unmasked": "1", "reason": "regulator inquiry 2026-118"}
        )
        assert full.status_code == 200 and "欧阳娜娜" in full.content.decode("utf-8-sig")
    exports = [e for e in await _entries(database_url) if e.action == "ledger_export"]
    assert [(e.actor, e.detail.get("masked")) for e in exports] == [
        ("agent1", True),
        ("agent1", False),
        ("boss", False),
    ]
    assert exports[1].detail.get("refused") is True
    assert exports[2].detail["reason"] == "regulator inquiry 2026-118"


async def test_an_auditor_reads_everything_changes_nothing_and_every_look_is_recorded(
    web: httpx.AsyncClient, database_url: str, api: FakeBotApi
) -> None:
    await add_staff(database_url, "audit", "auditor")
    case_no = await file_complaint(api.user(5401, "张三", "zh-hans"), "套餐被擅自变更")
    async with StaffClient(web) as auditor:
        await auditor.login("audit")
        page = await auditor.get(f"/staff/cases/{case_no}")
        assert page.status_code == 200 and "套餐被擅自变更" in page.text
        assert 'name="command" value="reply"' not in page.text
        tried = await auditor.post(
            f"/staff/cases/{case_no}/act", {"command": "reply", "text": "hello"}
        )
        assert tried.status_code == 303
        after = await auditor.follow(tried)
        assert "may not" in after.text or "无权" in after.text
        log = await auditor.get("/staff/access")
        assert log.status_code == 200 and case_no in log.text
    looks = [(e.actor, e.action, e.target) for e in await _entries(database_url)]
    assert ("audit", "case_view", case_no) in looks
    assert ("audit", "case_action", case_no) in looks
    assert ("audit", "access_log_view", looks[-1][2]) in looks


async def test_an_escalation_from_the_web_shows_to_supervisors_and_the_handler_is_one_person(
    web: httpx.AsyncClient, database_url: str, api: FakeBotApi
) -> None:
    # The agent is also 李雷 of the Telegram group (the same Telegram id).
    await add_staff(database_url, "lilei", "agent", name="李雷", telegram_id=9101)
    await add_staff(database_url, "boss", "supervisor")
    case_no = await file_complaint(api.user(5501, "张三", "zh-hans"), "客服态度恶劣")
    async with StaffClient(web) as agent:
        await agent.login("lilei")
        await agent.get(f"/staff/cases/{case_no}")
        await agent.follow(await agent.post(f"/staff/cases/{case_no}/act", {"command": "claim"}))
        escalated = await agent.follow(
            await agent.post(
                f"/staff/cases/{case_no}/act", {"command": "escalate", "text": "用户要求主管回电"}
            )
        )
        assert escalated.status_code == 200 and "李雷" in escalated.text
    (row,) = await stored_rows(database_url, Agent)
    assert (row.channel, row.external_id, row.name) == ("telegram", "9101", "李雷")
    async with StaffClient(web) as boss:
        await boss.login("boss")
        listed = await boss.get("/staff/cases")
        box = listed.text.split('class="escalated"')[1].split("</section>")[0]
        assert case_no in box


async def test_a_reply_with_a_file_reaches_the_complainant_and_is_filed_on_the_case(
    web: httpx.AsyncClient, database_url: str, api: FakeBotApi
) -> None:
    await add_staff(database_url, "zhou", "agent")
    zhang = api.user(5601, "张三", "zh-hans")
    case_no = await file_complaint(zhang, "发票开错了")
    letter = b"%PDF-1.4 corrected invoice"
    async with StaffClient(web) as agent:
        await agent.login("zhou")
        await agent.get(f"/staff/cases/{case_no}")
        mark = len(zhang.messages)
        sent = await agent.post(
            f"/staff/cases/{case_no}/act",
            {"command": "reply", "text": "已为您重开发票，见附件。"},
            files=[("files", ("invoice.pdf", letter, "application/pdf"))],
        )
        page = await agent.follow(sent)
        assert "invoice.pdf" in page.text
        await zhang.expect("已为您重开发票", since=mark)
        await api.wait_until(lambda: bool(api.calls_of("sendDocument")))
        # The file is kept with its checksum and served back to staff.
        got = await agent.get(f"/staff/cases/{case_no}/evidence/1")
        assert got.status_code == 200 and got.content == letter
        assert got.headers["content-disposition"].startswith("attachment")


async def test_behind_an_https_proxy_the_session_cookie_is_secure(
    web: httpx.AsyncClient, database_url: str
) -> None:
    await add_staff(database_url, "wu", "agent")
    async with StaffClient(web) as browser:
        form = await browser.get("/staff/login")
        # The proxy on 127.0.0.1 (TRUSTED_PROXIES) says the browser came by HTTPS.
        answer = await browser.http.post(
            "/staff/login",
            data={"csrf": csrf_of(form.text), "login": "wu", "password": PASSWORD},
            headers={"x-forwarded-proto": "https"},
        )
        assert answer.status_code == 303, answer.text[:200]
        (cookie,) = [c for c in answer.headers.get_list("set-cookie") if c.startswith("cb_staff=")]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert "Path=/staff" in cookie
