"""A `complaintbot run` process killed mid-intake resumes every conversation after a restart."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import create_engine
from storage.models import OutboxItem
from tests.support.telegram_api import FakeBotApi, FakeUser
from tests.support.waiting import eventually
from tests.support.workers import ending_with_this_process


def bot_env(api: FakeBotApi, database_url: str, tmp_path: Path) -> dict[str, str]:
    """`complaintbot run`'s environment: this database, the stand-in, nothing else of
    Telegram's from the test's own environment."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")},
        "DATABASE_URL": database_url,
        "DATA_DIR": str(tmp_path / "data"),
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_BASE_URL": api.base_url,
        "TELEGRAM_BASE_FILE_URL": api.base_file_url,
    }


async def start_bot(api: FakeBotApi, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    polls = len(api.calls_of("getUpdates"))
    process = await asyncio.create_subprocess_exec(
        *ending_with_this_process("-m", "complaintbot", "run"),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    await api.wait_until(lambda: len(api.calls_of("getUpdates")) > polls, within=60)
    return process


class Unsent(list[tuple[Any, ...]]):
    """The outbox items not settled yet, shown when a wait for them fails; true when
    there are none."""

    def __bool__(self) -> bool:
        return not len(self)


async def all_delivered(database_url: str) -> Unsent:
    engine = create_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            unsettled = await session.execute(
                select(
                    OutboxItem.id,
                    OutboxItem.conversation,
                    OutboxItem.kind,
                    OutboxItem.status,
                    OutboxItem.claimed_by,
                    OutboxItem.attempts,
                    OutboxItem.next_attempt_at,
                ).where(OutboxItem.status.in_(("pending", "sending")))
            )
            return Unsent(tuple(row) for row in unsettled)
    finally:
        await engine.dispose()


async def say(user: FakeUser, text: str, expect: str) -> None:
    mark = len(user.messages)
    await user.send_text(text)
    await user.expect(expect, since=mark, within=30)


async def test_a_killed_process_resumes_the_intake_without_asking_twice(
    api: FakeBotApi, database_url: str, tmp_path: Path
) -> None:
    env = bot_env(api, database_url, tmp_path)
    wang = api.user(7001, "王五", "zh-hans")
    first = await start_bot(api, env, tmp_path)
    try:
        await say(wang, "宽带每天晚上都断网", "已记录")
        mark = len(wang.messages)
        await wang.press("继续")
        await wang.expect("请问您的姓名", since=mark, within=30)
        await say(wang, "王五", "我们如何联系您")
        # Killed once the reply is recorded as delivered: a kill between Telegram's "ok"
        # and that record is the one window where a message may go out twice.
        await eventually(lambda: all_delivered(database_url))
    finally:
        first.kill()  # SIGKILL: no clean shutdown, no last words
        await first.wait()

    second = await start_bot(api, env, tmp_path)
    try:
        await say(wang, "wangwu@example.com", "请选择投诉类型")

        mark = len(wang.messages)
        await wang.press("求助")
        await wang.expect("您投诉的是哪家公司", since=mark, within=30)
    finally:
        second.terminate()
        _, errors = await second.communicate()
    assert second.returncode == 0, errors.decode()
    questions = wang.texts()
    assert sum("请问您的姓名" in q for q in questions) == 1
    assert sum("我们如何联系您" in q for q in questions) == 1
    assert api.token not in errors.decode()
