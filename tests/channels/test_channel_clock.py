"""Channels take the time they stamp from the injected clock, not the machine's."""

from __future__ import annotations

import io
from datetime import UTC, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from telegram import Update

from bot.messages import Button, InboundKind, Outbound
from channels.console.chat import ConsoleChannel
from channels.telegram.application import TelegramChannel, build_application
from storage.mail_cursors import SqlMailCursors
from storage.models import MailCursor
from tests.support.clock import FakeClock
from tests.support.telegram_api import FakeBotApi


async def test_a_telegram_button_press_is_received_at_the_clocks_time(
    api: FakeBotApi, clock: FakeClock
) -> None:
    application = build_application(api.token, api.base_url, api.base_file_url)

    async def ignore(_inbound: object) -> None:
        return None

    channel = TelegramChannel(application, ignore, clock)
    await application.initialize()
    try:
        clock.advance(days=3, hours=5)
        press = {
            "update_id": 41,
            "callback_query": {
                "id": "cq-1",
                "from": {"id": 7001, "is_bot": False, "first_name": "王五"},
                "chat_instance": "7001",
                "data": "continue",
            },
        }
        inbound = await channel.to_inbound(Update.de_json(press, application.bot))
    finally:
        await application.shutdown()
    assert inbound is not None and inbound.kind == InboundKind.BUTTON
    assert inbound.button_data == "continue"
    assert inbound.received_at == clock.now()


async def test_a_console_line_is_received_at_the_clocks_time(clock: FakeClock) -> None:
    out = io.StringIO()
    console = ConsoleChannel(io.StringIO(), out, clock)
    question = Outbound("console", "console", "Continue?", buttons=((Button("Yes", "y"),),))
    await console.send(question)
    clock.advance(minutes=90)
    inbound = console.to_inbound("1\n")
    assert "[1] Yes" in out.getvalue()
    assert (inbound.kind, inbound.button_data) == (InboundKind.BUTTON, "y")
    assert inbound.received_at == clock.now()


async def test_the_mail_cursor_is_stamped_with_the_clocks_time(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    cursors = SqlMailCursors(engine, clock)
    await cursors.save("support@corp.example@imap:993/INBOX", 7, 42)
    first = clock.now()
    clock.advance(hours=2)
    await cursors.save("support@corp.example@imap:993/INBOX", 7, 43)
    async with AsyncSession(engine) as session:
        row = await session.scalar(select(MailCursor))
    assert row is not None and row.last_uid == 43
    stamped = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
    assert stamped == clock.now() == first + timedelta(hours=2)
