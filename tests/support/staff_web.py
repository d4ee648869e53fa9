"""The staff web in tests: staff users put straight into the database, a complaint filed
over the Bot API stand-in, and an HTTP client that logs in and posts forms with the
page's CSRF token, as a browser would."""

from __future__ import annotations

import re
from typing import Any

import httpx
from argon2 import PasswordHasher

from storage import migrate
from storage.database import create_engine
from storage.staff import add_staff_user
from tests.support.clock import FakeClock
from tests.support.telegram_api import FakeUser
from tests.support.telegram_run import step

PASSWORD = "correct horse 7"
_hasher = PasswordHasher(time_cost=1, memory_cost=8192)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


async def add_staff(
    database_url: str,
    login: str,
    role: str,
    *,
    name: str | None = None,
    team: str | None = None,
    telegram_id: int | None = None,
    password: str = PASSWORD,
) -> None:
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)  # before the bot's first start, too
        await add_staff_user(
            engine,
            login,
            name or login,
            role,
            team,
            telegram_id,
            _hasher.hash(password),
            FakeClock().now(),
        )
    finally:
        await engine.dispose()


async def file_complaint(user: FakeUser, description: str, name: str = "张三") -> str:
    """A Chinese complaint filed to its receipt; returns its case number."""
    script = [
        ("text", "/start", "请用您自己的话描述发生了什么"),
        ("text", description, "已记录"),
        ("press", "继续", "请问您的姓名"),
        ("text", name, "我们如何联系您"),
        ("contact", "8613812345678", "类型"),
        ("press", "申诉", "您投诉的是哪家公司"),
        ("text", "某某通信科技有限公司", "您有证据吗"),
        ("press", "跳过", "您期望的处理结果"),
        ("text", "退还多扣的费用", "请核对您的投诉内容"),
        ("press", "确认提交", "您的投诉已受理"),
    ]
    reply = ""
    for action, value, expect in script:
        reply = await step(user, action, value, expect)
    found = re.search(r"TS-\d{8}-\d{4}", reply)
    assert found, reply
    return found.group(0)


def csrf_of(page: str) -> str:
    found = _CSRF.search(page)
    assert found, "the page has no CSRF token"
    return found.group(1)


class StaffClient:
    """One person's browser session, without the browser."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = httpx.AsyncClient(base_url=client.base_url, follow_redirects=False)
        self.last_page = ""

    async def __aenter__(self) -> StaffClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.http.aclose()

    async def get(self, path: str, **params: Any) -> httpx.Response:
        response = await self.http.get(path, params=params or None)
        if response.headers.get("content-type", "").startswith("text/html"):
            self.last_page = response.text
        return response

    async def login(self, login: str, password: str = PASSWORD) -> httpx.Response:
        page = await self.get("/staff/login")
        return await self.http.post(
            "/staff/login",
            data={"csrf": csrf_of(page.text), "login": login, "password": password},
        )

    async def post(
        self, path: str, data: dict[str, Any], files: Any = None, csrf: bool = True
    ) -> httpx.Response:
        """A form posted from the last page seen (its CSRF token), or without one."""
        form = {**data, "csrf": csrf_of(self.last_page)} if csrf else data
        return await self.http.post(path, data=form, files=files)

    async def follow(self, response: httpx.Response) -> httpx.Response:
        """The page a 303 leads to."""
        assert response.status_code == 303, (response.status_code, response.text[:300])
        return await self.get(response.headers["location"])
