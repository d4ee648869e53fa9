"""The Bot API stand-in delivers updates by webhook as Telegram does: POSTs with the
secret header, redelivery after an error answer, one chat's updates in order and one
at a time while other chats go on, and getUpdates refused while a webhook is set. The
bot side is the real python-telegram-bot; the receiver a small aiohttp server."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import Bot
from telegram.error import BadRequest, Conflict

from tests.support.telegram_api import FakeBotApi, serve_on_loopback
from tests.support.telegram_webhook import SECRET_HEADER, TELEGRAM_ADDRESS, chat_of

SECRET = "s3cret-token_0123456789abcdefghijkl"


class Receiver:
    """A webhook endpoint that records what arrives and answers from a script: the
    statuses queued in `answers` for a chat id, then 200."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []  # body, headers and path of each POST
        self.answers: dict[int | None, list[int]] = {}
        self.hold: dict[int | None, asyncio.Event] = {}  # a chat's next POST waits for it
        self.busy: dict[int | None, int] = {}
        self.most_at_once_per_chat = 0
        self.origin = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._post)
        self._runner, port = await serve_on_loopback(app)
        self.origin = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _post(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        chat = chat_of(body)
        self.busy[chat] = self.busy.get(chat, 0) + 1
        self.most_at_once_per_chat = max(self.most_at_once_per_chat, self.busy[chat])
        try:
            self.received.append(
                {"body": body, "headers": dict(request.headers), "path": request.path}
            )
            if chat in self.hold:
                await self.hold.pop(chat).wait()
            status = self.answers.get(chat, []).pop(0) if self.answers.get(chat) else 200
            return web.Response(status=status)
        finally:
            self.busy[chat] -= 1

    def texts(self, chat: int) -> list[str]:
        return [
            r["body"]["message"]["text"]
            for r in self.received
            if r["body"]["message"]["chat"]["id"] == chat
        ]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(api.token, base_url=api.base_url) as telegram_bot:
        yield telegram_bot


async def test_an_update_answered_503_twice_is_redelivered_until_accepted(
    api: FakeBotApi, receiver: Receiver, bot: Bot
) -> None:
    url = f"{receiver.origin}/telegram/hook"
    assert await bot.set_webhook(url, secret_token=SECRET, max_connections=5)
    person = api.user(101, "李雷")
    receiver.answers[person.id] = [503, 503]

    update = await person.send_text("我要投诉")
    attempts = await api.wait_delivered(update)

    assert [a.status for a in attempts] == [503, 503, 200]
    assert api.attempt_counts() == {update["update_id"]: 3}
    assert [r["body"] for r in receiver.received] == [update] * 3
    assert {r["headers"][SECRET_HEADER] for r in receiver.received} == {SECRET}
    assert {r["headers"]["Content-Type"] for r in receiver.received} == {"application/json"}
    assert {r["path"] for r in receiver.received} == {"/telegram/hook"}
    # The delay before each retry grows: 0.05 s, then 0.1 s.
    assert attempts[1].started - attempts[0].ended >= 0.05
    assert attempts[2].started - attempts[1].ended >= 0.1
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count, info.max_connections) == (url, 0, 5)
    assert info.last_error_message == "Wrong response from the webhook: 503 Service Unavailable"
    assert info.last_error_date is not None


async def test_getupdates_is_refused_while_a_webhook_is_set(
    api: FakeBotApi, receiver: Receiver, bot: Bot
) -> None:
    await bot.set_webhook(f"{receiver.origin}/hook", secret_token=SECRET)

    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()

    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()


async def test_one_chat_waits_for_its_earlier_update_while_other_chats_go_on(
    api: FakeBotApi, receiver: Receiver, bot: Bot
) -> None:
    await bot.set_webhook(f"{receiver.origin}/hook", secret_token=SECRET)
    slow, quick = api.user(201, "韩梅梅"), api.user(202, "Jim")
    receiver.answers[slow.id] = [503]
    receiver.hold[slow.id] = asyncio.Event()
    held = receiver.hold[slow.id]

    first = await slow.send_text("one")
    await slow.send_text("two")
    await slow.send_text("three")
    other = await quick.send_text("hello")
    # The other chat's update gets through while the first chat's is still held.
    await api.wait_delivered(other)
    held.set()
    await api.wait_delivered(lambda u: u.get("message", {}).get("text") == "three")

    assert receiver.texts(slow.id) == ["one", "one", "two", "three"]
    assert [a.status for a in api.attempts_of(first)] == [503, 200]
    assert receiver.most_at_once_per_chat == 1


async def test_updates_not_taken_by_the_webhook_go_to_getupdates_after_deletewebhook(
    api: FakeBotApi, bot: Bot
) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token=SECRET)
    update = await api.user(301, "Lucy").send_text("anyone there?")

    attempts = await api.wait_attempts(update, 2)
    info = await bot.get_webhook_info()
    await bot.delete_webhook()
    polled = await bot.get_updates()

    assert [(a.status, a.error) for a in attempts[:2]] == [(None, "Connection refused")] * 2
    assert (info.pending_update_count, info.last_error_message) == (1, "Connection refused")
    assert [u.update_id for u in polled] == [update["update_id"]]
    assert (await bot.get_webhook_info()).url == ""


async def test_a_public_url_reaches_the_local_server_as_through_a_tls_proxy(
    api: FakeBotApi, receiver: Receiver, bot: Bot
) -> None:
    api.route("https://bot.example.com", receiver.origin)
    await bot.set_webhook("https://bot.example.com/telegram/hook", secret_token=SECRET)

    update = await api.user(401, "Tom").send_text("hi")
    await api.wait_delivered(update)

    (request,) = receiver.received
    assert request["path"] == "/telegram/hook"
    assert request["headers"]["X-Forwarded-For"] == TELEGRAM_ADDRESS
    assert request["headers"]["X-Forwarded-Proto"] == "https"


async def test_telegram_takes_only_https_except_for_loopback(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)an https url must be provided"):
        await bot.set_webhook("http://bot.example.com/hook")
