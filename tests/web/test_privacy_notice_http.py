"""The privacy notice end to end on `complaintbot serve`: the PRIVACY_NOTICE_* and
PUBLIC_BASE_URL settings reach the Telegram greeting, and the case's timeline in the
staff web says which version was shown and how."""

from __future__ import annotations

from pathlib import Path

from complaintbot.app import privacy_notice
from complaintbot.settings import Settings
from tests.support.serving import ready, serving
from tests.support.staff_web import StaffClient, add_staff, file_complaint
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import telegram_settings


async def test_the_greeting_links_the_notice_and_the_case_page_shows_it_was_shown(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    settings = telegram_settings(
        api,
        database_url,
        tmp_path / "data",
        PORT=0,
        PUBLIC_BASE_URL="https://complaints.corp.example",
        PRIVACY_NOTICE_VERSION="2026-11",
    )
    await add_staff(database_url, "wang", "supervisor")
    async with serving(settings) as client:
        await ready(client)
        user = api.user(5301, "张三", "zh-hans")
        case_no = await file_complaint(user, "宽带每天晚上断线")
        (greeting,) = [text for text in user.texts(0) if text.startswith("您好")]
        assert "完整声明：https://complaints.corp.example/privacy" in greeting
        assert greeting.index("隐私说明") < greeting.index("请用您自己的话描述")
        async with StaffClient(client) as browser:
            await browser.login("wang")
            page = (await browser.get(f"/staff/cases/{case_no}")).text
        assert "已在对话中展示隐私声明 2026-11" in page or (
            "Privacy notice 2026-11 shown in chat" in page
        )


def test_the_notice_is_the_companys_page_when_it_has_one(tmp_path: Path) -> None:
    def notice(served_here: bool = True, **given: str) -> tuple[str, str | None]:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/bot.db",
            DATA_DIR=tmp_path / "data",
            HOST="0.0.0.0",
            PORT=8080,
            RETENTION_DAYS="365",
            **given,
        )
        made = privacy_notice(settings, served_here=served_here)
        assert made.retention_days == 365
        return made.version, made.page

    version, page = notice()
    assert page == "http://0.0.0.0:8080/privacy" and len(version) == 12
    assert notice(PUBLIC_BASE_URL="https://c.example")[1] == "https://c.example/privacy"
    company = notice(PRIVACY_NOTICE_URL="https://corp.example/legal/privacy")
    assert company[1] == "https://corp.example/legal/privacy"
    assert company[0] != version  # another notice, another version
    assert notice(PRIVACY_NOTICE_VERSION="v3")[0] == "v3"
    # Where nobody serves the built-in page (`run` alone, the pages off), nobody is sent
    # to it; a PUBLIC_BASE_URL says the company's `serve` has it.
    assert notice(served_here=False)[1] is None
    assert notice(WEB_ENABLED="false")[1] is None
    assert notice(served_here=False, PUBLIC_BASE_URL="https://c.example")[1] == (
        "https://c.example/privacy"
    )
    assert notice(served_here=False, PRIVACY_NOTICE_URL="https://corp.example/p")[1] == (
        "https://corp.example/p"
    )
